"""Turn engine probabilities into a routing suggestion: topic path, lead and assisting units, review flag."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence

import numpy as np

from sqmy.app.knowledge import DirectoryKnowledge
from sqmy.app.policy import RoutingPolicy
from sqmy.app.results import Department, DepartmentCandidate, Suggestion, TopicCandidate
from sqmy.core.config import EngineName
from sqmy.core.facts import Fact, extract_facts
from sqmy.models.base import Doc, Engine, HeadProbabilities, choose_topic_path, class_paths, families

ENGINE_PREFERENCE = (EngineName.ENSEMBLE, EngineName.BERT, EngineName.TFIDF)  # what "auto" tries, best first
log = logging.getLogger(__name__)


class EngineUnavailableError(RuntimeError):
    """The requested engine is not loaded."""


def _top(row: np.ndarray, k: int) -> np.ndarray:
    k = min(k, len(row))
    idx = np.argpartition(-row, k - 1)[:k] if k < len(row) else np.arange(len(row))
    return idx[np.argsort(-row[idx], kind="stable")]


def _topic(engine: Engine, probs: HeadProbabilities, row: int, k: int) -> tuple[str, float, tuple[str, ...], float,
                                                                         tuple[TopicCandidate, ...]]:
    """Level 1 (best), its best level-2 child, and the top-k paths with the chosen one first."""
    l1_p, l2_p = probs.topic_l1[row], probs.topic_l2[row]
    best_l1, best_l2 = choose_topic_path(engine.topic_l1_classes_, engine.topic_l2_classes_, l1_p, l2_p)
    topic, topic_conf = engine.topic_l1_classes_[best_l1], float(l1_p[best_l1])
    path: tuple[str, ...] = (topic,)
    path_conf = topic_conf
    if not l2_p.size:
        return topic, topic_conf, path, path_conf, tuple(
            TopicCandidate(engine.topic_l1_classes_[j], (engine.topic_l1_classes_[j],), round(float(l1_p[j]), 4))
            for j in _top(l1_p, k))
    paths = class_paths(engine.topic_l2_classes_)
    if best_l2 is not None:
        path, path_conf = paths[best_l2], float(l2_p[best_l2])
    order = _top(l2_p, k + 1)
    candidates = [TopicCandidate(paths[j][0], paths[j], round(p, 4))
                  for j, p in zip(order.tolist(), l2_p[order].tolist(), strict=True)]
    # the chosen path always comes first, the alternatives after it by probability
    candidates.sort(key=lambda c: (c.topic_path != path, -c.confidence))
    if best_l2 is not None and candidates and candidates[0].topic_path == path:
        path, path_conf = _level3(engine, probs, row, path, path_conf)
        candidates[0] = TopicCandidate(topic, path, candidates[0].confidence)  # the chosen one, with its level 3
    return topic, topic_conf, path, path_conf, tuple(candidates[:k])


def _level3(engine: Engine, probs: HeadProbabilities, row: int, path: tuple[str, ...],
            path_conf: float) -> tuple[tuple[str, ...], float]:
    """Extend a level-2 path with its most probable level-3 leaf when the engine has a level-3 head."""
    if probs.topic_l3 is None or not probs.topic_l3.shape[1]:
        return path, path_conf
    leaves = families(engine.topic_l3_classes_).get("/".join(path), [])
    if not leaves:
        return path, path_conf
    p3 = probs.topic_l3[row, leaves]
    best = int(np.argmax(p3))  # the first of equals, as max() over the leaves
    return class_paths(engine.topic_l3_classes_)[leaves[best]], path_conf * float(p3[best])


def _units(engine: Engine, probs: HeadProbabilities, row: int, policy: RoutingPolicy, k: int, doc: Doc | None,
           knowledge: DirectoryKnowledge | None) -> tuple[tuple[Department, ...], tuple[DepartmentCandidate, ...]]:
    """The lead (most probable lead unit, the duty prior mixed in), assisting units above the threshold, and the
    ranked candidates. A town or street as lead becomes the one the text names."""
    if not probs.lead.shape[1]:
        return (), ()
    text = f"{doc.title} {doc.text}" if doc is not None else ""
    lead_p = probs.lead[row] if knowledge is None else knowledge.lead_distribution(engine, probs, row, text)
    involved = dict(zip(engine.involved_classes_, probs.involved[row].tolist(), strict=True))
    order = _top(lead_p, max(k, 1))
    ranked = [(engine.lead_classes_[j], p) for j, p in zip(order.tolist(), lead_p[order].tolist(), strict=True)]
    lead = ranked[0][0]
    departments = [Department(lead, "lead", round(ranked[0][1], 4))]
    assists = sorted(((p, name) for name, p in involved.items() if name != lead and p >= policy.assist_threshold),
                     reverse=True)
    local = _locality_assist(knowledge, text, lead, involved, policy) if text else None
    if local is not None:  # the town or street the text names comes first among the assisting units
        assists = [local, *(a for a in assists if a[1] != local[1])]
    departments += [Department(name, "assist", round(p, 4)) for p, name in assists[: policy.max_assists]]
    candidates = tuple(DepartmentCandidate(name, round(p, 4), round(involved.get(name, 0.0), 4))
                       for name, p in ranked)
    return tuple(departments), candidates


def _below(value: float, threshold: float) -> str:
    """"36% 低于复核阈值 50%": the percentage the page shows beside its bar (one decimal, rounded down, where
    whole percent would read as equal to the threshold)."""
    shown, limit = f"{round(value, 4):.0%}", f"{threshold:.0%}"
    if shown == limit:
        shown = f"{math.floor(value * 1000) / 1000:.1%}"
    return f"{shown} 低于复核阈值 {limit}"


def _locality_assist(knowledge: DirectoryKnowledge | None, text: str, lead: str, involved: dict[str, float],
                     policy: RoutingPolicy) -> tuple[float, str] | None:
    """``(confidence, name)`` of the town or street (乡镇人民政府/街道办事处) the text names, as an assisting unit
    (属地配合): any locality of the directory, not only those the model learned; its confidence is the model's
    involvement probability, at least the assist threshold (the text names it). ``None`` when the text names
    none, or names the lead."""
    if knowledge is None or not knowledge.localities:
        return None
    name = knowledge.named_locality(text, knowledge.localities)
    if name is None or name == lead:
        return None
    return max(involved.get(name, 0.0), policy.assist_threshold), name


def build_result(engine: Engine, probs: HeadProbabilities, row: int, policy: RoutingPolicy,
                 top_k: int | None = None, doc: Doc | None = None,
                 knowledge: DirectoryKnowledge | None = None) -> Suggestion:
    """The routing suggestion for row ``row`` of ``probs`` (``doc``, the item, names towns and streets)."""
    k = top_k or policy.top_k
    topic, topic_conf, path, path_conf, topic_candidates = _topic(engine, probs, row, k)
    departments, dept_candidates = _units(engine, probs, row, policy, k, doc, knowledge)
    reasons = []
    if topic_conf < policy.review_threshold:
        reasons.append(f"一级分类“{topic}”的可能性 {_below(topic_conf, policy.review_threshold)}")
    lead = departments[0] if departments else None
    if lead is not None and lead.confidence < policy.dept_review_threshold:
        reasons.append(f"主办单位“{lead.name}”的主办可能性 {_below(lead.confidence, policy.dept_review_threshold)}")
    return Suggestion(topic, path, round(topic_conf, 4), round(path_conf, 4), topic_candidates, departments,
                      dept_candidates, engine.name, engine.version if probs.versions is None else probs.versions[row],
                      bool(reasons), tuple(reasons))


class Router:
    """Holds the loaded engines and answers routing requests; engines can be swapped atomically."""

    def __init__(self, engines: dict[str, Engine], policy: RoutingPolicy,
                 knowledge: DirectoryKnowledge | None = None) -> None:
        self._engines = dict(engines)
        self.policy, self.knowledge = policy, knowledge
        self._lock = threading.Lock()

    @property
    def engines(self) -> dict[str, Engine]:
        return self._engines

    def swap(self, name: str, engine: Engine | None) -> None:
        """Replace (or remove) one engine; requests already holding the old one finish on it."""
        with self._lock:
            engines = dict(self._engines)
            if engine is None:
                engines.pop(name, None)
            else:
                engines[name] = engine
            self._engines = engines

    def plan(self, requested: str = "auto") -> tuple[Engine, Engine | None]:
        """The one place that decides who answers: the engine for ``requested`` and, for ``auto``, the fallback
        (TF-IDF) that answers instead when the first fails or runs past ``policy.bert_budget_s``. ``auto`` prefers
        the ensemble, then BERT, then TF-IDF, among the engines loaded now."""
        engines = self._engines
        if requested != EngineName.AUTO:
            if requested not in engines:
                raise EngineUnavailableError(f"引擎 {requested} 未加载（可用：{', '.join(engines) or '无'}）")
            return engines[requested], None
        for name in ENGINE_PREFERENCE:
            if name in engines:
                fallback = engines.get(EngineName.TFIDF)
                return engines[name], fallback if fallback is not engines[name] else None
        raise EngineUnavailableError("没有已加载的模型，请先运行 sqmy train")

    def pick(self, requested: str = "auto") -> Engine:
        return self.plan(requested)[0]

    def answering(self, requested: str = "auto") -> str | None:
        """The name of the engine that answers ``requested`` now, or ``None`` when none can (yet)."""
        try:
            return self.pick(requested).name
        except EngineUnavailableError:
            return None

    def run(self, engine: Engine, docs: Sequence[Doc], top_k: int | None = None,
            facts: bool | None = None) -> list[Suggestion]:
        """Route ``docs`` with one given engine (no fallback); with ``facts`` (default: the policy's) each
        suggestion carries the facts inside its body."""
        probs = engine.predict_proba(list(docs))
        out = [build_result(engine, probs, i, self.policy, top_k, doc, self.knowledge) for i, doc in enumerate(docs)]
        if self.policy.facts if facts is None else facts:
            out = [s.with_facts(self.facts(doc.text)) for s, doc in zip(out, docs, strict=True)]
        return out

    def facts(self, text: str) -> tuple[Fact, ...]:
        """The facts inside ``text`` (the directory's towns and streets and city known as places; phone and ID
        numbers masked when the policy says so)."""
        localities = self.knowledge.place_names if self.knowledge is not None else ()
        return tuple(extract_facts(text, localities=localities, mask=self.policy.mask_pii))

    def classify(self, docs: Sequence[Doc], *, engine: str = "auto", top_k: int | None = None,
                 facts: bool | None = None) -> list[Suggestion]:
        """Route ``docs`` synchronously (CLI, archives); with ``auto`` a failing engine falls back to TF-IDF (the
        answer says which engine produced it)."""
        chosen, fallback = self.plan(engine)
        try:
            return self.run(chosen, docs, top_k, facts)
        except Exception:
            if fallback is None:
                raise
            log.exception("%s engine failed; answering with %s", chosen.name, fallback.name)
            return self.run(fallback, docs, top_k, facts)
