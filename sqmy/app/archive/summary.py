"""The summary of a batch run: counts per topic and lead unit, changed and review shares, errors, rate."""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from sqmy.app.archive.rows import ChunkResult


@dataclass
class BatchSummary:
    total: int = 0  # rows read, including rows that went to the errors file
    classified: int = 0
    errors: int = 0
    needs_review: int = 0
    labelled: int = 0  # rows carrying the archive's own topic or lead label
    changed: int = 0
    topics: Counter[str] = field(default_factory=Counter)
    leads: Counter[str] = field(default_factory=Counter)
    engines: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    has_labels: bool = False
    first_error: str = ""  # the reason of the first row that went to the errors file

    def add(self, chunk: ChunkResult) -> None:
        if chunk.errors and not self.first_error:
            self.first_error = str(orjson.loads(chunk.errors.split(b"\n", 1)[0]).get("error") or "")
        self.total += chunk.consumed
        self.classified += chunk.classified
        self.errors += chunk.failed
        self.needs_review += chunk.needs_review
        self.labelled += chunk.labelled
        self.changed += chunk.changed
        self.topics.update(chunk.topics)
        self.leads.update(chunk.leads)
        self.engines.update(chunk.engines)

    def to_dict(self) -> dict[str, Any]:
        def share(n: int, of: int) -> float:
            return round(n / of, 4) if of else 0.0

        out = {
            "total": self.total, "classified": self.classified, "errors": self.errors,
            "needs_review": self.needs_review, "needs_review_share": share(self.needs_review, self.classified),
            "topics": dict(self.topics.most_common()), "lead_departments": dict(self.leads.most_common()),
            "engines": dict(self.engines), "seconds": round(self.seconds, 2),
            "items_per_second": round(self.classified / self.seconds, 1) if self.seconds else None,
        }
        if self.errors:
            out["first_error"] = self.first_error
        if self.has_labels:
            out |= {"labelled": self.labelled, "changed": self.changed,
                    "changed_share": share(self.changed, self.labelled)}
        return out

    def state(self) -> dict[str, Any]:
        """Everything needed to continue counting after ``--resume``."""
        return {k: (dict(v) if isinstance(v, Counter) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BatchSummary:
        summary = cls(**state)
        for name in ("topics", "leads", "engines"):
            setattr(summary, name, Counter(state.get(name, {})))
        return summary


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


def format_table(summary: BatchSummary, top: int = 20) -> str:
    """The summary as a readable Chinese report (for stderr)."""
    s = summary
    rate = f"{s.classified / s.seconds:.0f} 条/秒" if s.seconds else "—"
    review = f"（{s.needs_review / s.classified:.1%}）" if s.classified else ""
    lines = [f"共 {s.total} 行：已分类 {s.classified} 行，错误 {s.errors} 行，用时 {s.seconds:.1f} 秒（{rate}）",
             f"需人工复核 {s.needs_review} 行{review}"]
    if s.has_labels:
        share = f"{s.changed / s.labelled:.1%}" if s.labelled else "—"
        lines.append(f"与原有标签不同 {s.changed} 行 / 有原标签 {s.labelled} 行（{share}）")
    for title, counts in (("分类", s.topics), ("主办单位", s.leads)):
        if not counts:
            continue
        width = max(_width(title), *(_width(k) for k, _ in counts.most_common(top))) + 2
        lines += ["", f"{_pad(title, width)}{'条数':>8}{'占比':>8}"]
        for name, n in counts.most_common(top):
            lines.append(f"{_pad(name, width)}{n:>10}{n / s.classified:>10.1%}")
        if len(counts) > top:
            rest = sum(n for _, n in counts.most_common()[top:])
            lines.append(f"{_pad(f'其他 {len(counts) - top} 项', width)}{rest:>10}{rest / s.classified:>10.1%}")
    return "\n".join(lines) + "\n"
