"""Compare a candidate model with the current one on the same evaluation items, and decide whether it may be
promoted: macro-F1 must not drop by more than ``max_macro_drop`` and no class's F1 by more than
``max_class_drop`` (classes with fewer than ``min_support`` evaluation items are reported, not gated)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqmy.core.config import Settings, default


@dataclass(frozen=True)
class Gate:
    """Promotion thresholds (``SQMY_GATE_*``)."""

    max_macro_drop: float = default("GATE_MACRO_F1_DROP")
    max_class_drop: float = default("GATE_CLASS_F1_DROP")
    min_support: int = default("GATE_MIN_SUPPORT")

    @classmethod
    def from_settings(cls, settings: Settings) -> Gate:
        return cls(settings.GATE_MACRO_F1_DROP, settings.GATE_CLASS_F1_DROP, settings.GATE_MIN_SUPPORT)


def _delta(before: float | None, after: float | None) -> dict[str, float | None]:
    if before is None or after is None:
        return {"before": before, "after": after, "delta": None}
    return {"before": round(before, 4), "after": round(after, 4), "delta": round(after - before, 4)}


def compare_reports(candidate: dict[str, Any], current: dict[str, Any] | None, gate: Gate = Gate()) -> dict[str, Any]:
    """A comparison report of two ``sqmy.training.evaluate.evaluate`` results (topic head gates; lead reported)."""
    report: dict[str, Any] = {"candidate": candidate.get("model_version"), "n_items": candidate.get("n_items", 0),
                              "gate": gate.__dict__, "reasons": []}
    if current is None:
        report |= {"current": None, "passed": True, "reasons": ["当前没有已上线的同类模型"]}
        return report
    report["current"] = current.get("model_version")
    cand, cur = candidate.get("topic"), current.get("topic")
    if not cand or not cur:  # nothing to compare on: never a silent pass (``force`` still promotes)
        report |= {"passed": False, "reasons": ["评估集为空，无法与当前模型比较（可强制上线）"]}
        return report
    report["macro_f1"] = _delta(cur["macro_f1"], cand["macro_f1"])
    report["accuracy"] = _delta(cur["accuracy"], cand["accuracy"])
    if candidate.get("lead") and current.get("lead"):
        report["lead_macro_f1"] = _delta(current["lead"]["macro_f1"], candidate["lead"]["macro_f1"])
    per_class = {}
    for label in sorted(set(cand["per_class"]) | set(cur["per_class"])):
        before = cur["per_class"].get(label, {}).get("f1")
        after = cand["per_class"].get(label, {}).get("f1")
        support = cand["per_class"].get(label, cur["per_class"].get(label, {})).get("support", 0)
        per_class[label] = _delta(before, after) | {"support": support}
    report["per_class"] = per_class
    reasons = []
    drop = cur["macro_f1"] - cand["macro_f1"]
    if drop > gate.max_macro_drop:
        reasons.append(f"宏平均 F1 下降 {drop * 100:.1f} 个百分点（上限 {gate.max_macro_drop * 100:.0f}）")
    for label, row in per_class.items():
        if row["delta"] is not None and row["support"] >= gate.min_support and -row["delta"] > gate.max_class_drop:
            reasons.append(f"类别“{label}”F1 下降 {-row['delta'] * 100:.1f} 个百分点"
                           f"（上限 {gate.max_class_drop * 100:.0f}）")
    report["passed"] = not reasons
    report["reasons"] = reasons or ["未发现退化"]
    return report
