"""Explanations: TF-IDF contributions mapped back to the caller's text, occlusion for any other engine."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sqmy.core.text import join_title
from sqmy.models.base import Doc, Engine, HeadProbabilities, choose_topic_path
from sqmy.models.explain import UnknownTopicError, chosen_path, explain, resolve_path


def check_spans(spans, source):
    for span in spans:
        assert 0 <= span["start"] < span["end"] <= len(source)
        assert source[span["start"]:span["end"]] == span["text"]
    starts = [s["start"] for s in spans]
    assert starts == sorted(starts)
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(spans)), "spans overlap"


def test_tfidf_spans_point_into_the_original_strings(tfidf_engine):
    doc = Doc(title="工资被拖欠", text="　老板拖欠我们三个月ＡＢＣ工资，\n\n讨薪多次没有结果。")
    result = explain(tfidf_engine, doc)
    assert result["engine"] == "tfidf" and result["method"] == "linear"
    assert result["model_version"] == tfidf_engine.version
    assert result["topic"] == "劳动和社会保障" and result["topic_path"][0] == result["topic"]
    check_spans(result["spans"], doc.text)
    check_spans(result["title_spans"], doc.title)
    words = {s["text"]: s["weight"] for s in result["spans"] + result["title_spans"]}
    assert words.get("工资", 0) > 0 and words.get("拖欠", 0) > 0
    strongest = max(result["spans"] + result["title_spans"], key=lambda s: s["weight"])
    assert strongest["text"] in {"工资", "拖欠", "老板", "讨薪", "工资被拖欠"}


def test_tfidf_contributions_add_up_to_the_topic_score(tfidf_engine):
    """Without punctuation every feature lies inside a word, so the spans sum to x·w (the score minus bias)."""
    doc = Doc(text="老板拖欠工资三个月")
    result = explain(tfidf_engine, doc)
    path = result["topic_path"]
    x = tfidf_engine.features_.transform([join_title("", doc.text)])
    columns = [tfidf_engine.slices_[0] + tfidf_engine.topic_l1_classes_.index(path[0])]
    if len(path) > 1:
        columns.append(tfidf_engine.slices_[1] + tfidf_engine.topic_l2_classes_.index("/".join(path)))
    expected = float(np.asarray(x @ tfidf_engine.weights_[:, columns]).sum())
    assert sum(s["weight"] for s in result["spans"]) == pytest.approx(expected, abs=1e-3)


def test_explaining_another_topic_changes_the_evidence(tfidf_engine):
    doc = Doc(text="小区路灯坏了，晚上很黑，请尽快维修路灯")
    own = explain(tfidf_engine, doc)
    other = explain(tfidf_engine, doc, topic="劳动和社会保障")
    assert own["topic"] == "城乡建设" and other["topic_path"][0] == "劳动和社会保障"
    lamp = lambda r: sum(s["weight"] for s in r["spans"] if "路灯" in s["text"])  # noqa: E731
    assert lamp(own) > 0 and lamp(own) > lamp(other)


def test_choose_topic_path_is_best_level1_then_its_best_child():
    l1, l2 = ["a", "b"], ["a/x", "b/y", "b/z"]
    assert choose_topic_path(l1, l2, np.array([0.3, 0.7]), np.array([0.9, 0.04, 0.06])) == (1, 2)
    assert choose_topic_path(l1, l2, np.array([0.6, 0.4]), np.array([0.1, 0.5, 0.4])) == (0, 0)
    assert choose_topic_path(l1, [], np.array([0.6, 0.4]), np.zeros(0)) == (0, None)
    assert choose_topic_path(["a", "c"], l2, np.array([0.1, 0.9]), np.array([0.5, 0.3, 0.2])) == (1, None)


def test_chosen_path_follows_the_engine_probabilities(tfidf_engine):
    probs = tfidf_engine.predict_proba([Doc(text="老板拖欠我们三个月工资")])
    path = chosen_path(tfidf_engine, probs)
    assert path[0] == tfidf_engine.topic_l1_classes_[int(probs.topic_l1[0].argmax())]
    if len(path) > 1:
        assert "/".join(path) in tfidf_engine.topic_l2_classes_


def test_resolve_path_accepts_names_and_paths(tfidf_engine):
    assert resolve_path(tfidf_engine, "城乡建设") == ["城乡建设"]
    assert resolve_path(tfidf_engine, ["劳动和社会保障", "工资福利"]) == ["劳动和社会保障", "工资福利"]
    assert resolve_path(tfidf_engine, "劳动和社会保障/工资福利") == ["劳动和社会保障", "工资福利"]
    assert resolve_path(tfidf_engine, "工资福利") == ["劳动和社会保障", "工资福利"]
    with pytest.raises(UnknownTopicError, match="火星"):
        resolve_path(tfidf_engine, "火星")


class KeywordEngine(Engine):
    """A stand-in for BERT: P(城乡建设) grows with every 路灯 in the title or text."""

    name = "bert"
    topic_l1_classes_ = ["其他", "城乡建设"]  # noqa: RUF012
    topic_l2_classes_: list[str] = []  # noqa: RUF012
    lead_classes_: list[str] = []  # noqa: RUF012
    involved_classes_: list[str] = []  # noqa: RUF012

    def __init__(self) -> None:
        self.metadata_ = {"version": "bert-stub"}
        self.calls = 0

    def predict_proba(self, docs):
        self.calls += 1
        z = np.array([(d.title + d.text).count("路灯") - 0.5 for d in docs], dtype=float)
        p = 1 / (1 + np.exp(-z))
        empty = np.zeros((len(docs), 0))
        return HeadProbabilities(np.column_stack([1 - p, p]), empty, empty, empty)

    def fit(self, docs, targets, log=None):
        return self

    def save(self, path):
        return path

    @classmethod
    def load(cls, path):
        return cls()


def test_occlusion_finds_the_decisive_word_in_one_batch():
    engine = KeywordEngine()
    doc = Doc(title="路灯", text="我们小区门口的路灯坏了，请尽快维修")
    result = explain(engine, doc)
    assert result["method"] == "occlusion" and result["topic_path"] == ["城乡建设"]
    assert engine.calls == 2  # the chosen path, then the original and every occluded copy in one call
    check_spans(result["spans"], doc.text)
    check_spans(result["title_spans"], doc.title)
    assert [s["text"] for s in result["spans"]] == ["路灯"]
    assert result["title_spans"][0]["text"] == "路灯" and result["title_spans"][0]["weight"] > 0


def test_occlusion_groups_words_beyond_the_cap():
    engine = KeywordEngine()
    doc = Doc(text="路灯" + "，".join(["小区门口"] * 40))
    result = explain(engine, doc, max_units=8)
    check_spans(result["spans"], doc.text)
    assert len(result["spans"]) <= 8 and result["spans"][0]["start"] == 0 and result["spans"][0]["weight"] > 0


def test_a_level3_path_is_explained_through_its_level2(tfidf_engine):
    assert resolve_path(tfidf_engine, ["城乡建设", "住房保障与房地产", "物业服务"]) == ["城乡建设", "住房保障与房地产"]
    assert resolve_path(tfidf_engine, "城乡建设/住房保障与房地产/物业服务") == ["城乡建设", "住房保障与房地产"]
