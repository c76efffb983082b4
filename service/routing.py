"""Turn engine probabilities into a routing suggestion: topic path, lead and assisting units, review flag."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.base import Doc, Engine, HeadProbabilities
from sqmy.config import Settings

ENGINE_PREFERENCE = ("ensemble", "bert", "tfidf")  # what "auto" tries, best first
log = logging.getLogger(__name__)


class EngineUnavailableError(RuntimeError):
    """The requested engine is not loaded."""


@dataclass(frozen=True)
class RoutingPolicy:
    review_threshold: float = 0.6
    dept_review_threshold: float = 0.4
    assist_threshold: float = 0.5
    max_assists: int = 3
    top_k: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> RoutingPolicy:
        return cls(settings.REVIEW_THRESHOLD, settings.DEPT_REVIEW_THRESHOLD, settings.ASSIST_THRESHOLD,
                   settings.MAX_ASSISTS, settings.TOP_K)


def _top(row: np.ndarray, k: int) -> np.ndarray:
    k = min(k, len(row))
    idx = np.argpartition(-row, k - 1)[:k] if k < len(row) else np.arange(len(row))
    return idx[np.argsort(-row[idx], kind="stable")]


def build_result(engine: Engine, probs: HeadProbabilities, row: int, policy: RoutingPolicy,
                 top_k: int | None = None) -> dict[str, Any]:
    """The routing suggestion for row ``row`` of ``probs``, in the public result format."""
    k = top_k or policy.top_k
    l1_p = probs.topic_l1[row]
    best_l1 = int(l1_p.argmax())
    topic, topic_conf = engine.topic_l1_classes_[best_l1], float(l1_p[best_l1])
    topic_path, path_conf = [topic], topic_conf
    l2_p = probs.topic_l2[row]
    if l2_p.size:
        children = [j for j, c in enumerate(engine.topic_l2_classes_) if c.startswith(topic + "/")]
        if children:
            best = max(children, key=lambda j: l2_p[j])
            topic_path, path_conf = engine.topic_l2_classes_[best].split("/"), float(l2_p[best])
        candidates = [{"topic": engine.topic_l2_classes_[j].split("/")[0],
                       "topic_path": engine.topic_l2_classes_[j].split("/"), "confidence": round(float(l2_p[j]), 4)}
                      for j in _top(l2_p, k + 1)]
        # the chosen path always comes first, the alternatives after it by probability
        candidates.sort(key=lambda c: (c["topic_path"] != topic_path, -c["confidence"]))
        candidates = candidates[:k]
    else:
        candidates = [{"topic": engine.topic_l1_classes_[j], "topic_path": [engine.topic_l1_classes_[j]],
                       "confidence": round(float(l1_p[j]), 4)} for j in _top(l1_p, k)]

    departments: list[dict[str, Any]] = []
    dept_candidates: list[dict[str, Any]] = []
    lead_conf = None
    if probs.lead.shape[1]:
        lead_p = probs.lead[row]
        involved = dict(zip(engine.involved_classes_, probs.involved[row].tolist(), strict=True))
        order = _top(lead_p, max(k, 1))
        lead = engine.lead_classes_[int(order[0])]
        lead_conf = float(lead_p[order[0]])
        departments.append({"name": lead, "role": "lead", "confidence": round(lead_conf, 4)})
        assists = sorted(((p, name) for name, p in involved.items()
                          if name != lead and p >= policy.assist_threshold), reverse=True)
        departments += [{"name": name, "role": "assist", "confidence": round(p, 4)}
                        for p, name in assists[: policy.max_assists]]
        dept_candidates = [{"name": engine.lead_classes_[j], "confidence": round(float(lead_p[j]), 4),
                            "involvement": round(involved.get(engine.lead_classes_[j], 0.0), 4)} for j in order]

    reasons = []
    if topic_conf < policy.review_threshold:
        reasons.append(f"分类置信度 {topic_conf:.2f} 低于阈值 {policy.review_threshold:.2f}")
    if lead_conf is not None and lead_conf < policy.dept_review_threshold:
        reasons.append(f"主办单位置信度 {lead_conf:.2f} 低于阈值 {policy.dept_review_threshold:.2f}")
    return {
        "topic": topic,
        "topic_path": topic_path,
        "topic_confidence": round(topic_conf, 4),
        "topic_path_confidence": round(path_conf, 4),
        "topic_candidates": candidates,
        "departments": departments,
        "department_candidates": dept_candidates,
        "engine": engine.name,
        "model_version": engine.version,
        "needs_review": bool(reasons),
        "review_reasons": reasons,
    }


class Router:
    """Holds the loaded engines and answers routing requests; engines can be swapped atomically."""

    def __init__(self, engines: dict[str, Engine], policy: RoutingPolicy) -> None:
        self._engines = dict(engines)
        self.policy = policy
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

    def pick(self, requested: str = "auto") -> Engine:
        engines = self._engines
        if requested == "auto":
            for name in ENGINE_PREFERENCE:
                if name in engines:
                    return engines[name]
            raise EngineUnavailableError("没有已加载的模型，请先运行 sqmy train")
        if requested not in engines:
            raise EngineUnavailableError(f"引擎 {requested} 未加载（可用：{', '.join(engines) or '无'}）")
        return engines[requested]

    def classify(self, docs: Sequence[Doc], *, engine: str = "auto", top_k: int | None = None) -> list[dict[str, Any]]:
        """Route ``docs``; with ``engine="auto"`` a failing BERT falls back to TF-IDF (the answer says so)."""
        chosen = self.pick(engine)
        try:
            probs = chosen.predict_proba(list(docs))
        except Exception:
            fallback = self._engines.get("tfidf")
            if engine != "auto" or fallback is None or fallback is chosen:
                raise
            log.exception("%s engine failed; answering with tfidf", chosen.name)
            chosen, probs = fallback, fallback.predict_proba(list(docs))
        return [build_result(chosen, probs, i, self.policy, top_k) for i in range(len(docs))]
