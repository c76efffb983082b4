"""The central value: one item's routing suggestion, typed. ``to_dict`` gives the public JSON shape that the
HTTP ``response_model`` (``sqmy.service.schemas.Prediction``), the CLI and archive results share."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from sqmy.core.facts import Fact


@dataclass(frozen=True)
class TopicCandidate:
    topic: str
    topic_path: tuple[str, ...]
    confidence: float


@dataclass(frozen=True)
class Department:
    name: str
    role: Literal["lead", "assist"]
    confidence: float


@dataclass(frozen=True)
class DepartmentCandidate:
    name: str
    confidence: float  # probability of being the lead
    involvement: float  # probability of taking part (lead or assist)


@dataclass(frozen=True)
class Suggestion:
    """Topic path, lead and assisting units with calibrated confidences, which engine and version answered, and
    whether an editor should look at it (and why, in Chinese)."""

    topic: str
    topic_path: tuple[str, ...]
    topic_confidence: float
    topic_path_confidence: float
    topic_candidates: tuple[TopicCandidate, ...]
    departments: tuple[Department, ...]
    department_candidates: tuple[DepartmentCandidate, ...]
    engine: str
    model_version: str
    needs_review: bool
    review_reasons: tuple[str, ...]
    facts: tuple[Fact, ...] | None = None  # the facts inside the body (sqmy.core.facts), when extracted

    def with_facts(self, facts: tuple[Fact, ...]) -> Suggestion:
        return replace(self, facts=facts)

    @property
    def lead(self) -> Department | None:
        """The suggested lead unit (主办), if the model routes units at all."""
        return next((d for d in self.departments if d.role == "lead"), None)

    @property
    def assists(self) -> tuple[Department, ...]:
        return tuple(d for d in self.departments if d.role == "assist")

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape (lists, not tuples; keys in field order). Written out rather than
        ``dataclasses.asdict``, whose recursive deep copy was a sixth of an archive batch's time."""
        out = {
            "topic": self.topic, "topic_path": list(self.topic_path), "topic_confidence": self.topic_confidence,
            "topic_path_confidence": self.topic_path_confidence,
            "topic_candidates": [{"topic": c.topic, "topic_path": list(c.topic_path), "confidence": c.confidence}
                                 for c in self.topic_candidates],
            "departments": [{"name": d.name, "role": d.role, "confidence": d.confidence} for d in self.departments],
            "department_candidates": [{"name": c.name, "confidence": c.confidence, "involvement": c.involvement}
                                      for c in self.department_candidates],
            "engine": self.engine, "model_version": self.model_version, "needs_review": self.needs_review,
            "review_reasons": list(self.review_reasons),
        }
        if self.facts is not None:
            out["facts"] = [f.to_dict() for f in self.facts]
        return out
