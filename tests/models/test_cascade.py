"""``auto``'s cascade: TF-IDF first, BERT only for the items TF-IDF is not confident about (tiny models built on
the fly: the TF-IDF of the tiny corpus and a probe on a tiny random BERT)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from sqmy.app.policy import RoutingPolicy
from sqmy.app.routing import Router
from sqmy.models import ModelRegistry
from sqmy.models.base import Doc
from sqmy.models.bert import BertEngine
from sqmy.models.ensemble import EnsembleEngine
from sqmy.training.cascade import choose_threshold
from sqmy.training.data import to_training
from sqmy.training.train import train_and_register
from tests.conftest import SQMY, sqmy_env

CONFIDENT, UNSURE = Doc("青石镇新民路路灯坏了半个月，晚上一片漆黑，请尽快维修路灯。", title="路灯坏了"), Doc("情况说明")


@pytest.fixture(scope="module")
def bert_engine(tiny_base, items):
    engine = BertEngine(base=str(tiny_base), epochs=0, prefix="", validation_fraction=0.0).fit(*to_training(items))
    engine.metadata_ |= {"version": "bert-tiny"}
    return engine


class Recorder:
    """Records the documents a real engine is asked about."""

    def __init__(self, engine):
        self.engine, self.seen = engine, []

    def __call__(self, docs):
        self.seen += list(docs)
        return BertEngine.predict_proba(self.engine, docs)


def between(tfidf_engine) -> float:
    """A threshold between TF-IDF's confidence on the unsure item and on the confident one."""
    low, high = tfidf_engine.predict_proba([UNSURE, CONFIDENT]).topic_l1.max(axis=1)
    assert high > low + 0.05, (low, high)  # the two items really differ
    return float((low + high) / 2)


def test_a_confident_item_skips_bert_and_an_unsure_one_reaches_it(bert_engine, tfidf_engine, monkeypatch):
    recorder = Recorder(bert_engine)
    monkeypatch.setattr(bert_engine, "predict_proba", recorder)
    cascade = EnsembleEngine(members=[bert_engine, tfidf_engine], cascade=between(tfidf_engine))
    router = Router({"ensemble": cascade, "bert": bert_engine, "tfidf": tfidf_engine}, RoutingPolicy())
    confident, unsure = router.classify([CONFIDENT, UNSURE])
    assert recorder.seen == [UNSURE]  # BERT never read the confident item
    # the answer says which engines produced it: TF-IDF alone, or both pooled
    assert confident.engine == unsure.engine == "ensemble"
    assert confident.model_version == tfidf_engine.version
    assert unsure.model_version == f"bert-tiny+{tfidf_engine.version}"
    alone = router.classify([CONFIDENT], engine="tfidf")[0]
    assert (confident.topic_path, confident.departments[0].name) == (alone.topic_path, alone.departments[0].name)
    assert confident.topic_confidence == pytest.approx(alone.topic_confidence, abs=1e-4)
    pooled = Router({"ensemble": EnsembleEngine(members=[bert_engine, tfidf_engine], cascade=1.0)},
                    RoutingPolicy()).classify([UNSURE])[0]
    assert unsure.to_dict() == pooled.to_dict()  # an unsure item gets exactly the pooled answer


def test_a_disabled_cascade_leaves_auto_unchanged(bert_engine, tfidf_engine, items, monkeypatch):
    """Threshold 1 (SQMY_CASCADE_THRESHOLD=1), or no threshold stored with the model: every item reads both
    members and gets the log-linear pool of the two, head by head, as before the cascade existed."""
    docs = [i.doc for i in items[:12]] + [UNSURE]
    bert_engine.metadata_["cascade"] = {"threshold": 0.01}  # stored, but overridden
    off = EnsembleEngine(members=[bert_engine, tfidf_engine], cascade=1.0)
    recorder = Recorder(bert_engine)
    monkeypatch.setattr(bert_engine, "predict_proba", recorder)
    probs = off.predict_proba(docs)
    assert recorder.seen == docs and probs.versions is None

    def member(engine, head):
        p = getattr(BertEngine.predict_proba(engine, docs) if engine is bert_engine else engine.predict_proba(docs),
                    head)
        return np.clip(p[:, [getattr(engine, f"{head}_classes_").index(c) for c in getattr(off, f"{head}_classes_")]],
                       1e-6, 1 - 1e-6)

    geometric = np.sqrt(member(bert_engine, "topic_l1") * member(tfidf_engine, "topic_l1"))
    np.testing.assert_allclose(probs.topic_l1, geometric / geometric.sum(1, keepdims=True), atol=1e-6)
    odds = np.sqrt(member(bert_engine, "involved") / (1 - member(bert_engine, "involved"))
                   * member(tfidf_engine, "involved") / (1 - member(tfidf_engine, "involved")))
    np.testing.assert_allclose(probs.involved, odds / (1 + odds), atol=1e-6)
    del bert_engine.metadata_["cascade"]
    unset = EnsembleEngine(members=[bert_engine, tfidf_engine]).predict_proba(docs)
    for head in ("topic_l1", "topic_l2", "lead", "involved", "topic_l3"):
        np.testing.assert_array_equal(getattr(unset, head), getattr(probs, head))


def test_the_threshold_stored_with_bert_is_used_and_the_setting_overrides_it(bert_engine, tfidf_engine):
    bert_engine.metadata_["cascade"] = {"threshold": between(tfidf_engine)}
    try:
        stored = EnsembleEngine(members=[bert_engine, tfidf_engine])
        assert stored.predict_proba([CONFIDENT, UNSURE]).versions == [tfidf_engine.version, stored.version]
        assert EnsembleEngine(members=[bert_engine, tfidf_engine], cascade=1.0).cascade_threshold_ is None
    finally:
        del bert_engine.metadata_["cascade"]


def test_the_threshold_gives_up_no_accuracy_on_the_evaluation_items(bert_engine, tfidf_engine, items):
    chosen = choose_threshold(bert_engine, tfidf_engine, items, min_items=10)
    assert chosen["n_items"] == len(items) and chosen["tfidf"] == tfidf_engine.version
    if chosen["threshold"] is not None:  # TF-IDF knows its training items: most of them skip BERT
        assert chosen["macro_f1"] >= chosen["full_macro_f1"] - chosen["tolerance"]
        assert chosen["lead_accuracy"] >= chosen["full_lead_accuracy"] - chosen["tolerance"]
        assert 0 < chosen["skipped_share"] <= 1
    assert choose_threshold(bert_engine, tfidf_engine, items[:5])["threshold"] is None  # too few items


def test_bert_training_stores_the_threshold_and_sqmy_classify_uses_it(home, tiny_base, items):
    """End to end: `sqmy train --engine bert` beside a TF-IDF model stores the cascade with the model; the CLI's
    `auto` answers a confident item with TF-IDF alone, and SQMY_CASCADE_THRESHOLD=1 makes BERT read it."""
    registry = ModelRegistry(home / "models")
    meta = train_and_register("bert", items * 3, registry, eval_fraction=0.5, promote=True,
                              params={"base": str(tiny_base), "epochs": 0, "prefix": ""}, log=lambda _m: None)
    cascade = json.loads((registry.path(meta["version"]) / "metadata.json").read_text())["cascade"]
    assert cascade["tfidf"] == registry.current("tfidf")
    assert cascade["threshold"] is None and cascade["reason"]  # a tiny evaluation split: no cascade by default
    text = f"{CONFIDENT.title}。{CONFIDENT.text}"
    runs = {}
    for value in ("0.01", "1"):
        done = subprocess.run([SQMY, "classify", text], env=sqmy_env(home, SQMY_CASCADE_THRESHOLD=value),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        runs[value] = json.loads(done.stdout)
    assert runs["0.01"]["engine"] == runs["1"]["engine"] == "ensemble"
    assert runs["0.01"]["model_version"] == registry.current("tfidf")
    assert runs["1"]["model_version"] == f"{meta['version']}+{registry.current('tfidf')}"


def test_the_pool_keeps_its_class_alignment_and_follows_a_member_replaced(bert_engine, tfidf_engine):
    """The ensemble lines its members' classes up once (a sorted union and a lookup per class cost most of an
    item that skips BERT when redone on every call) and keeps it while its members and their class lists stay
    the same; a member replaced by one whose classes come in another order is lined up again, so each pooled
    probability still belongs to its class."""
    import copy

    ensemble = EnsembleEngine(members=[tfidf_engine, bert_engine], cascade=1.0)
    before = ensemble.predict_proba([CONFIDENT, UNSURE])
    assert ensemble.lead_classes_ is ensemble.lead_classes_  # the same list: routing's per-list caches hold

    reordered = copy.copy(bert_engine)
    reordered.lead_classes_ = list(reversed(bert_engine.lead_classes_))

    def reversed_lead(docs):
        probs = BertEngine.predict_proba(bert_engine, docs)
        probs.lead = probs.lead[:, ::-1]
        return probs

    reordered.predict_proba = reversed_lead
    ensemble.members = [tfidf_engine, reordered]
    after = ensemble.predict_proba([CONFIDENT, UNSURE])
    np.testing.assert_allclose(after.lead, before.lead, atol=1e-12)
    np.testing.assert_allclose(after.topic_l1, before.topic_l1, atol=1e-12)
