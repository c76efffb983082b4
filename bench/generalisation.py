"""Generalisation of the promoted models: the held-out taxonomy probe (all 15 topics, all genres, written by a
writer who never saw the training corpus) and the real messages of ../shared/data, per engine.

For every set and engine: level-1 accuracy / macro-F1 / ECE, level-2 macro-F1 and level-3 accuracy where the set
has them, lead unit top-1 / top-3, the share of items flagged needs_review and the accuracy of the items not
flagged, the largest confusions; for the probe also level-1 macro-F1 per genre and per-class F1.

    SQMY_HOME=var .venv/bin/python bench/generalisation.py [--engines tfidf bert auto] [--out bench/out/gen.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from sklearn.metrics import f1_score

from bench.common import REPO, SHARED_DATA, print_report
from sqmy.app.knowledge import DirectoryKnowledge
from sqmy.app.policy import RoutingPolicy
from sqmy.app.reload import load_current_engines
from sqmy.app.routing import Router
from sqmy.core.config import ensemble_bert_budget, get_settings
from sqmy.models import ModelRegistry
from sqmy.models.base import Doc
from sqmy.training.evaluate import expected_calibration_error

PROBE = REPO / "bench" / "probe" / "taxonomy-probe.jsonl"
SETS = {"probe": PROBE, "real-200": SHARED_DATA / "real-messages-dev.jsonl",
        "real-948": SHARED_DATA / "real-archive-dev.jsonl"}


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def _path(row: dict[str, Any]) -> list[str]:
    return list(row.get("topic_path") or [row["topic"]])


def score(router: Router, engine: str, rows: list[dict[str, Any]],
          answers: list[str] | None = None) -> dict[str, Any]:
    """Route every row with ``engine`` and compare with its labels (each row's answer appended to ``answers``)."""
    results = []
    for start in range(0, len(rows), 256):
        docs = [Doc(text=r["text"], title=r.get("title") or "") for r in rows[start:start + 256]]
        results += router.classify(docs, engine=engine)
    truth = [_path(r)[0] for r in rows]
    pred = [s.topic for s in results]
    if answers is not None:
        answers.extend(pred)
    conf = np.array([s.topic_confidence for s in results])
    right = np.array(truth) == np.array(pred)
    flagged = np.array([s.needs_review for s in results])
    labels = sorted(set(truth))
    out: dict[str, Any] = {
        "n": len(rows), "accuracy": round(float(right.mean()), 4),
        "macro_f1": round(float(f1_score(truth, pred, labels=labels, average="macro", zero_division=0)), 4),
        "ece": round(expected_calibration_error(conf, right), 4),
        "flagged_share": round(float(flagged.mean()), 4),
        "unflagged_accuracy": round(float(right[~flagged].mean()), 4) if (~flagged).any() else None,
        "confident_wrong_0.9": int(((conf >= 0.9) & ~right).sum()),
        "per_class_f1": {k: round(float(v), 3) for k, v in zip(labels, f1_score(
            truth, pred, labels=labels, average=None, zero_division=0), strict=True)},
        "skipped_bert_share": round(float(np.mean(["+" not in s.model_version for s in results])), 4)
        if any(s.engine == "ensemble" for s in results) else None,
        "largest_confusions": [f"{t} → {p}: {n}" for (t, p), n in Counter(
            (t, p) for t, p in zip(truth, pred, strict=True) if t != p).most_common(8)],
    }
    with_l2 = [(i, r) for i, r in enumerate(rows) if len(_path(r)) >= 2]
    if with_l2:
        t2 = ["/".join(_path(r)[:2]) for _, r in with_l2]
        p2 = ["/".join(results[i].topic_path[:2]) for i, _ in with_l2]
        out["l2_macro_f1"] = round(float(f1_score(t2, p2, labels=sorted(set(t2)), average="macro",
                                                  zero_division=0)), 4)
        out["l2_accuracy"] = round(float(np.mean(np.array(t2) == np.array(p2))), 4)
    with_l3 = [(i, r) for i, r in enumerate(rows) if len(_path(r)) == 3]
    if with_l3:
        out["l3_accuracy"] = round(float(np.mean([list(results[i].topic_path) == _path(r) for i, r in with_l3])), 4)
    with_lead = [(i, r) for i, r in enumerate(rows) if r.get("lead")]
    if with_lead:
        top = [[c.name for c in results[i].department_candidates] for i, _ in with_lead]
        leads = [r["lead"] for _, r in with_lead]
        out["lead_top1"] = round(float(np.mean([t[:1] == [lead] for t, lead in zip(top, leads, strict=True)])), 4)
        out["lead_top3"] = round(float(np.mean([lead in t[:3] for t, lead in zip(top, leads, strict=True)])), 4)
    genres = sorted({r.get("genre") for r in rows if r.get("genre")})
    if genres:
        out["macro_f1_by_genre"] = {}
        for genre in genres:
            idx = [i for i, r in enumerate(rows) if r.get("genre") == genre]
            t, p = [truth[i] for i in idx], [pred[i] for i in idx]
            out["macro_f1_by_genre"][genre] = round(float(f1_score(t, p, labels=sorted(set(t)), average="macro",
                                                                   zero_division=0)), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=["tfidf", "bert", "auto"])
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--answers", type=Path, help="also write every item's level-1 answer and label per set and "
                        "engine (JSON, for a paired comparison of two runs: bench/paired.py); keep it out of the "
                        "project, it holds ../shared labels")
    args = parser.parse_args()
    settings = get_settings()
    engines = load_current_engines(ModelRegistry(settings.models_dir), ensemble=settings.ENSEMBLE,
                                   cascade=settings.CASCADE_THRESHOLD,
                                   bert_budget=ensemble_bert_budget(settings))
    router = Router(engines, RoutingPolicy.from_settings(settings), DirectoryKnowledge.from_settings(settings))
    report: dict[str, Any] = {"models": {n: e.version for n, e in engines.items()}}
    answers: dict[str, dict[str, list[str]]] = {}
    for name in args.sets:
        if not SETS[name].is_file():
            print(f"skip {name}: {SETS[name]} not found", file=sys.stderr)
            continue
        rows = _rows(SETS[name])
        answers[name] = {"truth": [_path(r)[0] for r in rows]}
        for engine in args.engines:
            if engine != "auto" and engine not in engines:
                continue
            result = score(router, engine, rows, answers[name].setdefault(engine, []))
            report.setdefault(name, {})[engine if engine != "auto" else f"auto={router.pick('auto').name}"] = result
            print(f"{name:9} {engine:6} n={result['n']:4} acc={result['accuracy']:.3f} "
                  f"macroF1={result['macro_f1']:.3f} ECE={result['ece']:.3f} flagged={result['flagged_share']:.2f} "
                  f"unflagged_acc={result['unflagged_accuracy']} l2F1={result.get('l2_macro_f1')} "
                  f"l3acc={result.get('l3_accuracy')} lead@1={result.get('lead_top1')} "
                  f"lead@3={result.get('lead_top3')} skipped_bert={result.get('skipped_bert_share')}",
                  file=sys.stderr)
    if args.answers:
        args.answers.write_text(json.dumps(answers, ensure_ascii=False))
    print_report(report, args.out)


if __name__ == "__main__":
    main()
