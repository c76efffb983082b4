"""Which words drove a topic decision: weighted character spans of the title and text.

- TF-IDF (``method="linear"``): the chosen topic's score is linear in the features, so each word or character
  n-gram feature contributes ``coef × tf-idf value`` (level-1 plus level-2 head). A feature's contribution is
  shared among its occurrences and spread over their characters; the per-character weights are then summed
  over jieba words and mapped back, through the normalisation, to offsets into the caller's strings.
- Any other engine (BERT, the ensemble; ``method="occlusion"``): every jieba word (adjacent words grouped when
  there are more than ``max_units``) is deleted in turn and the drop of the chosen path's log-odds (level 1 plus
  level 2, from the raw logits when the engine has ``raw_scores``) is its weight. The original and all occluded
  copies go through one batched call.

Positive weights argue for the topic, negative ones against it. Offsets are Python string indices (code points)
into ``text`` (``spans``) and ``title`` (``title_spans``), ``end`` exclusive.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from sqmy.core.text import FieldSpan, char_spans, join_title_with_offsets, token_spans, word_spans
from sqmy.models.base import Doc, Engine, HeadProbabilities, choose_topic_path

MAX_SPANS = 60  # per field: the strongest spans by |weight|


class UnknownTopicError(ValueError):
    """The requested topic is not one of the engine's classes."""


def chosen_path(engine: Engine, probs: HeadProbabilities, row: int = 0) -> list[str]:
    """The topic path ``sqmy.app.routing.build_result`` reports: best level 1, then its best level-2 child."""
    l1, l2 = choose_topic_path(engine.topic_l1_classes_, engine.topic_l2_classes_, probs.topic_l1[row],
                               probs.topic_l2[row])
    return engine.topic_l2_classes_[l2].split("/") if l2 is not None else [engine.topic_l1_classes_[l1]]


def resolve_path(engine: Engine, topic: str | Sequence[str]) -> list[str]:
    """A level-1 name, a level-2 name, or a path (of up to three levels) → the engine's path of at most two levels;
    ``UnknownTopicError`` otherwise."""
    parts = [topic] if isinstance(topic, str) else list(topic)
    parts = [p.strip() for p in parts if p and p.strip()]
    l2 = engine.topic_l2_classes_
    if len(parts) == 1 and "/" in parts[0]:
        parts = parts[0].split("/")
    parts = parts[:2]  # a level-3 path is explained through its level 2 (the heads explained are levels 1 and 2)
    if len(parts) == 1:
        if parts[0] in engine.topic_l1_classes_:
            return parts
        matches = [c for c in l2 if c.split("/")[1] == parts[0]]
        if len(matches) == 1:
            return matches[0].split("/")
    elif len(parts) == 2 and "/".join(parts) in l2:
        return parts
    elif len(parts) == 2 and parts[0] in engine.topic_l1_classes_ and not any(
            c.startswith(parts[0] + "/") for c in l2):
        return parts[:1]
    raise UnknownTopicError(f"未知的分类：{'/'.join(parts) or '（空）'}")


def _spans(weights: np.ndarray, text: str, where: list[FieldSpan], doc: Doc) -> dict[str, list[dict[str, Any]]]:
    """Sum per-character weights of the joined ``text`` over jieba words and map them to offsets into the original
    strings (``where``: per character, its field and source span, from ``join_title_with_offsets``)."""
    out: dict[str, list[dict[str, Any]]] = {"text": [], "title": []}
    for _token, s, e in token_spans(text):
        fields = {where[i][0] for i in range(s, e)} - {""}
        if len(fields) != 1:
            continue
        name = fields.pop()
        weight = float(weights[s:e].sum())
        if abs(weight) < 1e-6:
            continue
        mine = [where[i] for i in range(s, e) if where[i][0] == name]
        start, end = min(m[1] for m in mine), max(m[2] for m in mine)
        source = doc.text if name == "text" else doc.title
        out[name].append({"start": start, "end": end, "text": source[start:end], "weight": round(weight, 5)})
    return out


def _linear(engine: Any, doc: Doc, path: list[str]) -> tuple[dict[str, list[dict[str, Any]]], str]:
    """TF-IDF: per-feature contributions ``coef × value`` to the chosen path's level-1 and level-2 scores."""
    text, where = join_title_with_offsets(doc.title, doc.text)
    features = engine.features_
    x = features.transform([text])
    columns = [engine.slices_[0] + engine.topic_l1_classes_.index(path[0])]
    if engine.topic_l2_ is not None and len(path) > 1 and "/".join(path) in engine.topic_l2_classes_:
        columns.append(engine.slices_[1] + engine.topic_l2_classes_.index("/".join(path)))
    w = np.asarray(engine.weights_[:, columns], dtype=np.float64).sum(axis=1)
    contribution = dict(zip(x.indices.tolist(), (x.data.astype(np.float64) * w[x.indices]).tolist(), strict=True))

    # every occurrence of every feature, as (column, start, end) in the joined text
    word_vocab, char_vocab = features.vocabularies_
    vocab = word_vocab
    occurrences = [(vocab[t], s, e) for t, s, e in word_spans(text) if t in vocab]
    offset, vocab = len(word_vocab), char_vocab
    for s, e in char_spans(text):
        column = vocab.get(text[s:e])
        if column is not None:
            occurrences.append((offset + column, s, e))

    count: dict[int, int] = defaultdict(int)
    for column, _s, _e in occurrences:
        count[column] += 1
    weights = np.zeros(len(text))
    for column, s, e in occurrences:
        weights[s:e] += contribution.get(column, 0.0) / count[column] / (e - s)
    return _spans(weights, text, where, doc), "linear"


def _path_probability(engine: Engine, probs: HeadProbabilities, path: list[str]) -> np.ndarray:
    if len(path) > 1 and probs.topic_l2.shape[1] and "/".join(path) in engine.topic_l2_classes_:
        return probs.topic_l2[:, engine.topic_l2_classes_.index("/".join(path))]
    return probs.topic_l1[:, engine.topic_l1_classes_.index(path[0])]


def _margin(z: np.ndarray, k: int) -> np.ndarray:
    """``z_k - logsumexp(z_j, j≠k)``: the log-odds of class ``k`` under a softmax of the logits ``z``."""
    z = np.asarray(z, dtype=np.float64)
    others = np.delete(z, k, axis=1)
    if others.shape[1] == 0:
        return np.zeros(len(z))
    top = others.max(axis=1)
    return z[:, k] - (top + np.log(np.exp(others - top[:, None]).sum(axis=1)))


def _path_scores(engine: Engine, docs: Sequence[Doc], path: list[str]) -> np.ndarray:
    """How strongly the engine argues for ``path``, per doc: the sum of the level-1 and level-2 log-odds, from raw
    logits when the engine exposes them (BERT), else from its (calibrated) probabilities."""
    raw = getattr(engine, "raw_scores", None)
    if raw is not None:
        logits = raw(docs)
        score = _margin(logits["topic_l1"], engine.topic_l1_classes_.index(path[0]))
        name = "/".join(path)
        if len(path) > 1 and "topic_l2" in logits and name in engine.topic_l2_classes_:
            score = score + _margin(logits["topic_l2"], engine.topic_l2_classes_.index(name))
        return score
    p = np.clip(np.asarray(_path_probability(engine, engine.predict_proba(docs), path), dtype=np.float64),
                1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


Spans = dict[str, list[dict[str, Any]]]


def _occlusion(engine: Engine, doc: Doc, path: list[str], max_units: int) -> tuple[Spans, str]:
    """Delete each word (or group of adjacent words) and measure the drop of the path's log-odds."""
    units: list[tuple[str, int, int]] = []  # (field, start, end)
    for name, source in (("title", doc.title or ""), ("text", doc.text)):
        units += [(name, s, e) for _token, s, e in token_spans(source)]
    size = max(1, math.ceil(len(units) / max(1, max_units)))
    groups: list[tuple[str, int, int]] = []
    for name in ("title", "text"):
        mine = [u for u in units if u[0] == name]
        groups += [(name, mine[i][1], mine[min(i + size, len(mine)) - 1][2]) for i in range(0, len(mine), size)]
    if not groups:
        return {"text": [], "title": []}, "occlusion"

    def without(name: str, s: int, e: int) -> Doc:
        if name == "title":
            return Doc(text=doc.text, title=doc.title[:s] + doc.title[e:])
        rest = doc.text[:s] + doc.text[e:]
        return Doc(text=rest if rest.strip() else "。", title=doc.title)

    scores = _path_scores(engine, [doc] + [without(*g) for g in groups], path)
    drop = scores[0] - scores[1:]
    out: dict[str, list[dict[str, Any]]] = {"text": [], "title": []}
    for (name, s, e), weight in zip(groups, drop.tolist(), strict=True):
        if abs(weight) >= 1e-6:
            source = doc.text if name == "text" else doc.title
            out[name].append({"start": s, "end": e, "text": source[s:e], "weight": round(weight, 5)})
    return out, "occlusion"


def _strongest(spans: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    keep = sorted(spans, key=lambda sp: -abs(sp["weight"]))[:limit]
    return sorted(keep, key=lambda sp: sp["start"])


def explain(engine: Engine, doc: Doc, *, topic: str | Sequence[str] | None = None, max_units: int = 48,
            max_spans: int = MAX_SPANS) -> dict[str, Any]:
    """Weighted spans of ``doc`` for the topic path ``engine`` chooses (or for ``topic`` when given).

    Returns ``{"engine", "model_version", "topic", "topic_path", "topic_confidence", "method", "spans",
    "title_spans"}``; each span is ``{"start", "end", "text", "weight"}`` with offsets into ``doc.text``
    (``doc.title`` for ``title_spans``), in reading order."""
    base = engine.predict_proba([doc])
    path = resolve_path(engine, topic) if topic else chosen_path(engine, base)
    if hasattr(engine, "weights_") and hasattr(engine, "features_"):
        spans, method = _linear(engine, doc, path)
    else:
        spans, method = _occlusion(engine, doc, path, max_units)
    return {
        "engine": engine.name,
        "model_version": engine.version,
        "topic": path[0],
        "topic_path": path,
        "topic_confidence": round(float(_path_probability(engine, base, path)[0]), 4),
        "method": method,
        "spans": _strongest(spans["text"], max_spans),
        "title_spans": _strongest(spans["title"], max_spans),
    }
