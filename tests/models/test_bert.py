"""The BERT engine with a tiny random checkpoint: fine-tune → save → load → predict → fallback."""

from __future__ import annotations

import json
import subprocess
import time

import numpy as np
import pytest

from sqmy.app.policy import RoutingPolicy
from sqmy.app.routing import Router
from sqmy.models import ModelRegistry, load_engine
from sqmy.models.base import Doc
from sqmy.models.bert import BertEngine
from sqmy.training.data import to_training
from sqmy.training.train import train_and_register
from tests.conftest import SQMY, sqmy_env


@pytest.fixture(scope="module")
def bert_engine(tiny_base, items):
    params = {"base": str(tiny_base), "epochs": 25, "batch_size": 8, "lr_encoder": 3e-3, "lr_head": 1e-2,
              "prefix": "", "patience": 100, "validation_fraction": 0.0}
    return BertEngine(**params).fit(*to_training(items))


def test_fine_tuning_learns_the_training_items(bert_engine, items):
    probs = bert_engine.predict_proba([i.doc for i in items])
    predicted = [bert_engine.topic_l1_classes_[k] for k in probs.topic_l1.argmax(1)]
    assert np.mean([p == i.topic_l1 for p, i in zip(predicted, items, strict=True)]) >= 0.9
    np.testing.assert_allclose(probs.topic_l1.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(probs.lead.sum(1), 1, atol=1e-5)


def test_save_load_round_trip(bert_engine, tmp_path):
    docs = [Doc("小区路灯坏了"), Doc("拖欠工资", title="讨薪")]
    bert_engine.metadata_["version"] = "bert-test"
    loaded = BertEngine.load(bert_engine.save(tmp_path / "bert"))
    np.testing.assert_allclose(loaded.predict_proba(docs).topic_l1, bert_engine.predict_proba(docs).topic_l1,
                               atol=1e-5)
    assert loaded.lead_classes_ == bert_engine.lead_classes_ and loaded.version == "bert-test"
    assert loaded.topic_l1_from_l2_ and bert_engine.topic_l1_from_l2_  # the corpus carries level 2 everywhere


def test_level_one_comes_from_its_own_head_when_the_data_lacks_level_two(tiny_base, items):
    """A site archive labelled with level-1 topics only: the level-1 head answers, level 2 stays consistent."""
    docs, targets = to_training(items)
    targets.topic_l2 = [None] * len(docs)
    engine = BertEngine(base=str(tiny_base), epochs=0, prefix="", validation_fraction=0.0).fit(docs, targets)
    assert not engine.topic_l1_from_l2_ and engine.topic_l2_classes_ == []
    probs = engine.predict_proba(docs[:5])
    np.testing.assert_allclose(probs.topic_l1.sum(1), 1, atol=1e-5)
    assert probs.topic_l2.shape == (5, 0)


def test_n_layers_keeps_only_the_first_layers(tiny_base, items):
    engine = BertEngine(base=str(tiny_base), epochs=1, n_layers=1, prefix="").fit(*to_training(items[:20]))
    assert len(engine.encoder_.encoder.layer) == 1


def test_probe_only_keeps_the_pretrained_encoder_and_learns_the_heads(tiny_base, items):
    """epochs=0: logistic-regression heads on the frozen encoder; no encoder weight moves."""
    import torch
    from transformers import AutoModel

    engine = BertEngine(base=str(tiny_base), epochs=0, prefix="", probe_c=100.0,
                        validation_fraction=0.0).fit(*to_training(items))
    pretrained = AutoModel.from_pretrained(tiny_base, add_pooling_layer=False).state_dict()
    for name, value in engine.encoder_.state_dict().items():
        assert torch.equal(value, pretrained[name]), name
    assert engine.metadata_["history"][0]["stage"] == "probe" and len(engine.metadata_["history"]) == 1
    probs = engine.predict_proba([i.doc for i in items])
    predicted = [engine.topic_l1_classes_[k] for k in probs.topic_l1.argmax(1)]
    majority = max(np.mean([i.topic_l1 == c for i in items]) for c in engine.topic_l1_classes_)
    assert np.mean([p == i.topic_l1 for p, i in zip(predicted, items, strict=True)]) > majority + 0.2
    assert np.isfinite(probs.involved).all() and ((probs.involved >= 0) & (probs.involved <= 1)).all()


def test_fine_tuning_starts_from_the_probe(tiny_base, items):
    engine = BertEngine(base=str(tiny_base), epochs=1, prefix="", patience=5).fit(*to_training(items))
    assert [h.get("stage") for h in engine.metadata_["history"]] == ["probe", None]
    with pytest.raises(ValueError, match="probe"):
        BertEngine(base=str(tiny_base), epochs=0, probe=False, prefix="").fit(*to_training(items))


def test_missing_base_is_a_clear_error(items):
    with pytest.raises(FileNotFoundError, match="sqmy base-encoder"):
        BertEngine(base="/nonexistent").fit(*to_training(items))


class Broken:
    name = "bert"

    def predict_proba(self, docs):
        raise RuntimeError("GPU on fire")


def test_auto_prefers_bert_and_falls_back_to_tfidf(bert_engine, tfidf_engine):
    doc = [Doc("出租车拒载")]
    assert Router({"bert": bert_engine, "tfidf": tfidf_engine}, RoutingPolicy()).classify(doc)[0].engine == "bert"
    router = Router({"bert": Broken(), "tfidf": tfidf_engine}, RoutingPolicy())
    assert router.classify(doc)[0].engine == "tfidf"
    with pytest.raises(RuntimeError):
        router.classify(doc, engine="bert")


def test_registry_and_cli_serve_a_trained_bert(tmp_path, tiny_base, items, tiny_corpus_dir):
    home = tmp_path / "home"
    meta = train_and_register("bert", items, ModelRegistry(home / "models"), eval_fraction=0.0,
                              params={"base": str(tiny_base), "epochs": 2, "prefix": ""}, log=lambda _m: None)
    assert meta["engine"] == "bert" and meta["promoted"]
    assert isinstance(load_engine(home / "models" / meta["version"]), BertEngine)
    done = subprocess.run([SQMY, "classify", "工厂排污", "--engine", "bert"], env=sqmy_env(home),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["engine"] == "bert"


def test_a_first_bert_must_beat_the_tfidf_that_auto_serves(home, tiny_base, items):
    """Promoting BERT changes what `auto` answers with, so a first BERT is gated against the current TF-IDF."""
    from sqmy.training.compare import Gate
    from sqmy.training.retrain import promote, promotion_report

    registry = ModelRegistry(home / "models")  # a promoted TF-IDF model is being served
    meta = train_and_register("bert", items, registry, eval_fraction=0.3,
                              params={"base": str(tiny_base), "epochs": 1, "prefix": "", "probe": False},
                              log=lambda _m: None)
    assert not meta.get("promoted") and registry.current("bert") is None
    refused = promote(registry, meta["version"], gate=Gate())  # one epoch of a random tiny BERT: clearly worse
    assert refused["report"]["current"] == registry.current("tfidf")
    assert not refused["promoted"] and refused["report"]["macro_f1"]["delta"] < 0
    assert registry.current("bert") is None
    served = promotion_report(registry, meta["version"], Gate(), ensemble=True)  # SQMY_ENSEMBLE: what auto serves
    assert served["served_as"] == "ensemble" and served["current"] == registry.current("tfidf")
    assert served["candidate"] == f"{meta['version']}+{registry.current('tfidf')}"
    forced = promote(registry, meta["version"], gate=Gate(), force=True)
    assert forced["promoted"] and registry.current("bert") == meta["version"]


def test_onnx_export_matches_torch_and_int8_is_served(bert_engine, tmp_path):
    from sqmy.models.bert_onnx import INT8_NAME, ONNX_NAME, OnnxRunner, export_onnx

    bert_engine.metadata_["version"] = "bert-onnx"
    path = bert_engine.save(tmp_path / "bert")
    export_onnx(bert_engine.encoder_, bert_engine.heads_, bert_engine.tokenizer_, path)
    texts = ["小区路灯坏了", "讨薪。公司拖欠工资三个月，老板一直不见人", "出租车拒载"]
    ids = bert_engine._encode(texts)
    _rows, input_ids, mask = next(bert_engine._batches(ids, range(len(ids))))
    torch_logits = {k: v.detach().numpy() for k, v in bert_engine._logits(input_ids, mask).items()}
    onnx_logits = OnnxRunner(path / ONNX_NAME)(input_ids.numpy(), mask.numpy())
    for name, value in torch_logits.items():
        np.testing.assert_allclose(onnx_logits[name], value, atol=1e-3)
    served = BertEngine.load(path)
    assert served.metadata_["runtime"] == "onnxruntime-int8" and (path / INT8_NAME).is_file()
    docs = [Doc(t) for t in texts]
    assert (served.predict_proba(docs).topic_l1.argmax(1) == bert_engine.predict_proba(docs).topic_l1.argmax(1)).all()


def test_running_service_falls_back_to_tfidf_past_the_bert_budget(tmp_path, tiny_base, items, trained_home):
    import shutil

    import httpx

    from tests.conftest import Server

    home = tmp_path / "home"
    shutil.copytree(trained_home, home)
    train_and_register("bert", items, ModelRegistry(home / "models"), eval_fraction=0.0, promote=True,
                       params={"base": str(tiny_base), "epochs": 1, "prefix": ""}, log=lambda _m: None)
    server = Server(home, SQMY_BERT_BUDGET_MS="0.001")
    try:
        engines: set[str] = set()
        for _ in range(300):  # BERT loads in the background after start-up; TF-IDF serves meanwhile
            engines = set(httpx.get(f"{server.url}/readyz").json()["engines"])
            if "ensemble" in engines:
                break
            time.sleep(0.1)
        assert engines == {"bert", "tfidf", "ensemble"}  # SQMY_ENSEMBLE is on by default
        auto = httpx.post(f"{server.url}/v1/classify", json={"text": "工厂排污"}, timeout=30).json()
        assert auto["engine"] == "tfidf"  # BERT (pooled with TF-IDF) could not answer within 1 µs
        forced = httpx.post(f"{server.url}/v1/classify", json={"text": "工厂排污", "engine": "bert"}, timeout=30)
        assert forced.json()["engine"] == "bert"
    finally:
        server.stop()


def test_ensemble_pools_calibrated_probabilities_log_linearly(bert_engine, tfidf_engine):
    from sqmy.models.ensemble import EnsembleEngine

    ensemble = EnsembleEngine(members=[bert_engine, tfidf_engine])
    docs = [Doc("小区物业乱收费"), Doc("医院服务态度差")]
    probs = ensemble.predict_proba(docs)
    np.testing.assert_allclose(probs.topic_l1.sum(1), 1, atol=1e-6)

    def member(engine):
        p = engine.predict_proba(docs).topic_l1
        return p[:, [engine.topic_l1_classes_.index(c) for c in ensemble.topic_l1_classes_]]

    geometric = np.sqrt(np.clip(member(bert_engine), 1e-6, 1) * np.clip(member(tfidf_engine), 1e-6, 1))
    np.testing.assert_allclose(probs.topic_l1, geometric / geometric.sum(1, keepdims=True), atol=1e-6)
    assert ((probs.involved > 0) & (probs.involved < 1)).all()
    router = Router({"ensemble": ensemble, "bert": bert_engine, "tfidf": tfidf_engine}, RoutingPolicy())
    result = router.classify(docs)[0]
    assert result.engine == "ensemble" and "+" in result.model_version


def test_explain_by_occlusion_points_into_the_text(bert_engine):
    from sqmy.models.explain import explain

    doc = Doc(title="路灯坏了", text="青石镇新民路路灯坏了半个月，晚上一片漆黑，请尽快维修路灯。")
    result = explain(bert_engine, doc, max_units=12)
    assert result["engine"] == "bert" and result["method"] == "occlusion"
    assert result["topic_path"][0] in bert_engine.topic_l1_classes_
    assert 0 < len(result["spans"]) <= 12
    assert all(doc.text[s["start"]:s["end"]] == s["text"] for s in result["spans"])
    assert all(doc.title[s["start"]:s["end"]] == s["text"] for s in result["title_spans"])



def test_sqmy_train_bert_is_a_probe_by_default_and_fine_tunes_on_request(tmp_path, tiny_base, tiny_corpus_dir):
    """`sqmy train --engine bert` (what `make bert` runs) fits the probe alone unless epochs are asked for."""
    home = tmp_path / "home"

    def train(*extra: str, **env: str) -> dict:
        done = subprocess.run([SQMY, "train", "--engine", "bert", "--corpus", str(tiny_corpus_dir), "--base",
                               str(tiny_base), "--force", *extra], env=sqmy_env(home, **env), capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        version = json.loads(done.stdout)["version"]
        return json.loads((home / "models" / version / "metadata.json").read_text())

    assert [h.get("stage") for h in train()["history"]] == ["probe"]
    assert [h.get("stage") for h in train(SQMY_BERT_EPOCHS="1")["history"]] == ["probe", None]
    assert [h.get("stage") for h in train("--epochs", "0", SQMY_BERT_EPOCHS="3")["history"]] == ["probe"]


def test_the_int8_model_is_served_without_torch_and_answers_as_the_full_load(bert_engine, tmp_path):
    """Serving reads the int8 graph, ``serving.json`` and the tokenizer alone (no torch, no transformers, no fp32
    encoder: seconds less for every `sqmy batch --engine auto` and server start) with the same probabilities."""
    import sys

    from sqmy.models.bert_onnx import export_onnx

    bert_engine.metadata_["version"] = "bert-int8"
    path = bert_engine.save(tmp_path / "bert")
    export_onnx(bert_engine.encoder_, bert_engine.heads_, bert_engine.tokenizer_, path)
    texts = ["小区路灯坏了", "讨薪。公司拖欠工资三个月，老板一直不见人", "出租车拒载" * 6]
    full = BertEngine.load(path, runtime="onnx").predict_proba([Doc(t) for t in texts])
    code = ("import sys, json\nfrom pathlib import Path\nfrom sqmy.models.bert import BertEngine\n"
            "from sqmy.models.base import Doc\n"
            f"e = BertEngine.load(Path({str(path)!r}))\n"
            f"p = e.predict_proba([Doc(t) for t in {texts!r}])\n"
            "print(json.dumps({'l1': p.topic_l1.tolist(), 'lead': p.lead.tolist(), 'involved': p.involved.tolist(), "
            "'torch': 'torch' in sys.modules, 'transformers': 'transformers' in sys.modules, "
            "'runtime': e.metadata_['runtime']}))")
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout.splitlines()[-1])
    assert not out["torch"] and not out["transformers"] and out["runtime"] == "onnxruntime-int8"
    np.testing.assert_allclose(out["l1"], full.topic_l1, atol=1e-6)
    np.testing.assert_allclose(out["lead"], full.lead, atol=1e-6)
    np.testing.assert_allclose(out["involved"], full.involved, atol=1e-6)


def test_an_item_gets_the_same_answer_alone_or_among_items_of_other_lengths(bert_engine, tmp_path):
    """The int8 graph quantises activations per call, padding included: padded to the longest of a server's
    batch, an item's probabilities moved with whatever other requests shared it. Items now share a call only
    with items of about their length (no batch padded by more than a tenth), so among requests of other lengths
    an item gets exactly its answer alone (and no CPU goes to padding)."""
    from sqmy.models.bert_onnx import export_onnx

    bert_engine.metadata_["version"] = "bert-alone"
    path = bert_engine.save(tmp_path / "bert")
    export_onnx(bert_engine.encoder_, bert_engine.heads_, bert_engine.tokenizer_, path)
    served = BertEngine.load(path)
    item = Doc("讨薪。公司拖欠工资三个月，老板一直不见人")
    others = [Doc("出租车拒载" * 12), Doc("路灯"), Doc("小区门口垃圾成堆，臭气熏天，物业不管" * 3)]
    alone = served.predict_proba([item])
    among = served.predict_proba([others[0], item, *others[1:]])
    for head in ("topic_l1", "topic_l2", "lead", "involved"):
        np.testing.assert_allclose(getattr(among, head)[1], getattr(alone, head)[0], atol=1e-7)


def test_head_and_tail_truncation_keeps_the_end_of_a_long_message_when_set_at_serving(bert_engine, tmp_path,
                                                                                       monkeypatch):
    """``SQMY_BERT_MAX_LENGTH`` / ``SQMY_BERT_TAIL_TOKENS`` at serving: a message longer than the budget keeps its
    head and its last tokens (where it says what it asks for) instead of its head alone; a short one is read whole
    either way; the saved model itself is not changed."""
    from sqmy.core.config import get_settings
    from sqmy.models.bert_onnx import export_onnx

    long_text = "小区门口垃圾成堆" * 20 + "要求物业立即清运"
    whole = bert_engine.tokenizer_([long_text], truncation=True, max_length=512)["input_ids"][0]
    bert_engine.metadata_["version"] = "bert-tail"
    path = bert_engine.save(tmp_path / "bert")
    export_onnx(bert_engine.encoder_, bert_engine.heads_, bert_engine.tokenizer_, path)
    try:
        monkeypatch.setenv("SQMY_BERT_MAX_LENGTH", "24")
        get_settings.cache_clear()
        head_only = BertEngine.load(path)._encode([long_text])[0]
        monkeypatch.setenv("SQMY_BERT_TAIL_TOKENS", "8")
        get_settings.cache_clear()
        served = BertEngine.load(path)
        cut = served._encode([long_text, "路灯坏了"])
        assert len(cut[0]) == 24 and cut[0][:16] == whole[:16] and cut[0][-8:] == whole[-8:] != head_only[-8:]
        assert cut[1] == bert_engine._encode(["路灯坏了"])[0]
        assert served.metadata_["serving"] == {"max_length": 24, "tail_tokens": 8}
        np.testing.assert_allclose(served.predict_proba([Doc(long_text)]).topic_l1,
                                   BertEngine.load(path, runtime="onnx").predict_proba([Doc(long_text)]).topic_l1,
                                   atol=1e-6)
        monkeypatch.delenv("SQMY_BERT_MAX_LENGTH")
        monkeypatch.delenv("SQMY_BERT_TAIL_TOKENS")
        get_settings.cache_clear()
        own = BertEngine.load(path)
        assert (own.max_length, own.tail_tokens) == (bert_engine.max_length, 0) and "serving" not in own.metadata_
    finally:
        get_settings.cache_clear()


def test_auto_reads_a_long_message_within_its_budget_while_bert_alone_reads_the_model_s(bert_engine, tfidf_engine):
    """``SQMY_ENSEMBLE_BERT_MAX_LENGTH`` / ``_TAIL_TOKENS`` (opt-in, e.g. 128 = 80 + 48): inside ``auto`` BERT
    reads a long message's head and end only; ``engine: bert`` keeps the model's own budget (BERT alone loses more
    at fewer tokens than the pool does, docs/BENCHMARKS.md); by default both read the model's own."""
    from sqmy.app.reload import ensemble_of
    from sqmy.core.config import Settings, ensemble_bert_budget

    assert ensemble_bert_budget(Settings(ENSEMBLE_BERT_MAX_LENGTH=128)) == (128, 48)
    own = ensemble_of({"bert": bert_engine, "tfidf": tfidf_engine}, cascade=1.0,
                      bert_budget=ensemble_bert_budget(Settings()))
    assert own["ensemble"].members[0] is bert_engine  # the default: the model's own budget (256) inside auto too
    long_text = "小区门口垃圾成堆" * 20 + "要求物业立即清运"
    engines = {"bert": bert_engine, "tfidf": tfidf_engine}
    pooled = ensemble_of(engines, cascade=1.0, bert_budget=(24, 8))["ensemble"]
    inside = pooled.members[0]
    whole = bert_engine._encode([long_text])[0]
    assert inside._encode([long_text]) == [whole[:16] + whole[-8:]] and len(whole) > 24
    assert bert_engine.max_length == 256 and bert_engine._encode([long_text]) == [whole]  # BERT alone: unchanged
    assert inside.version == bert_engine.version and inside.encoder_ is bert_engine.encoder_  # shared, not copied
    probs = pooled.predict_proba([Doc(long_text), Doc("路灯坏了")])
    np.testing.assert_allclose(probs.topic_l1.sum(1), 1, atol=1e-6)
    assert ensemble_of(engines, cascade=1.0)["ensemble"].members[0] is bert_engine  # no budget: the model's own
