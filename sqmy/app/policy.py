"""The routing policy: thresholds that turn probabilities into a suggestion, and ``auto``'s latency budget.
Plain data (no numpy, no engines), so that a batch's parent process can carry it to its workers."""

from __future__ import annotations

from dataclasses import dataclass

from sqmy.core.config import TRAINABLE_ENGINES, Settings, default


@dataclass(frozen=True)
class RoutingPolicy:
    """How probabilities become a suggestion (thresholds) and which engine answers ``auto`` (latency budget)."""

    review_threshold: float = default("REVIEW_THRESHOLD")
    dept_review_threshold: float = default("DEPT_REVIEW_THRESHOLD")
    assist_threshold: float = default("ASSIST_THRESHOLD")
    max_assists: int = default("MAX_ASSISTS")
    top_k: int = default("TOP_K")
    bert_budget_s: float = default("BERT_BUDGET_MS") / 1000
    facts: bool = default("FACTS")  # extract the facts inside each item (sqmy.core.facts) unless a request says not
    mask_pii: bool = default("MASK_PII")  # phone and ID numbers among the facts masked

    @classmethod
    def from_settings(cls, settings: Settings) -> RoutingPolicy:
        return cls(settings.REVIEW_THRESHOLD, settings.DEPT_REVIEW_THRESHOLD, settings.ASSIST_THRESHOLD,
                   settings.MAX_ASSISTS, settings.TOP_K, settings.BERT_BUDGET_MS / 1000, settings.FACTS,
                   settings.MASK_PII)


def engines_needed(requested: str) -> tuple[str, ...]:
    """The model lines an engine choice needs: a trained engine named alone, every one for ``auto`` (which prefers
    the ensemble) and ``ensemble``. Loading only these keeps ``--engine tfidf`` free of torch and its start-up."""
    return (requested,) if requested in TRAINABLE_ENGINES else TRAINABLE_ENGINES
