"""``auto``'s cascade (TF-IDF first, BERT only where TF-IDF is unsure): the threshold chosen on the corpus's
evaluation split, and what each threshold does on the probe and the real sets: share of items that skip BERT,
level-1 accuracy and macro-F1 against the full ensemble (every member computed once per set, then pooled as
``EnsembleEngine`` pools them).

    SQMY_HOME=H .venv/bin/python bench/cascade.py [--store] [--out bench/out/cascade.json]

``--store`` writes the chosen threshold into the promoted BERT model's metadata (what ``sqmy train --engine bert``
does for a new model), so ``auto`` serves the cascade; use it on a scratch home.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from sklearn.metrics import f1_score

from bench.common import print_report
from bench.generalisation import SETS, _path, _rows
from sqmy.core.config import get_settings
from sqmy.models import ModelRegistry, load_engine
from sqmy.models.base import Doc, Engine
from sqmy.models.ensemble import EnsembleEngine
from sqmy.models.metadata import read_metadata, write_metadata
from sqmy.training.cascade import choose_threshold
from sqmy.training.train import read_eval_items

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)


def curve(ensemble: EnsembleEngine, bert: Engine, tfidf: Engine, rows: list[dict[str, Any]],
          thresholds: list[float]) -> dict[str, Any]:
    docs = [Doc(text=r["text"], title=r.get("title") or "") for r in rows]
    started = time.perf_counter()
    first = tfidf.predict_proba(docs)
    second = bert.predict_proba(docs)
    seconds = time.perf_counter() - started
    full = ensemble.pool([second, first], len(docs)).topic_l1.argmax(1)
    alone = ensemble.pool([None, first], len(docs)).topic_l1.argmax(1)
    confidence = first.topic_l1.max(axis=1)
    truth = [_path(r)[0] for r in rows]
    labels = sorted(set(truth))

    def scores(best: np.ndarray) -> dict[str, float]:
        pred = [ensemble.topic_l1_classes_[j] for j in best]
        return {"accuracy": round(float(np.mean(np.array(pred) == np.array(truth))), 4),
                "macro_f1": round(float(f1_score(truth, pred, labels=labels, average="macro", zero_division=0)), 4)}

    out: dict[str, Any] = {"n": len(rows), "both_members_s": round(seconds, 1), "full": scores(full),
                           "tfidf_alone": scores(alone)}
    for t in thresholds:
        skip = confidence >= t
        out[f"cascade@{t:g}"] = {"skipped_share": round(float(skip.mean()), 4), **scores(np.where(skip, alone, full))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", action="store_true")
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    registry = ModelRegistry(get_settings().models_dir)
    bert_version, tfidf_version = registry.current("bert"), registry.current("tfidf")
    if bert_version is None or tfidf_version is None:
        raise SystemExit("the home needs a promoted BERT and TF-IDF model")
    bert, tfidf = load_engine(registry.path(bert_version)), load_engine(registry.path(tfidf_version))
    items = read_eval_items(registry.path(bert_version))
    chosen = choose_threshold(bert, tfidf, items)
    print(f"chosen on {len(items)} evaluation items: {chosen}", file=sys.stderr)
    if args.store:
        meta = read_metadata(registry.path(bert_version))
        write_metadata(registry.path(bert_version), meta | {"cascade": chosen})
    thresholds = sorted({*THRESHOLDS, *([chosen["threshold"]] if chosen["threshold"] else [])})
    ensemble = EnsembleEngine(members=[bert, tfidf], cascade=1.0)
    report: dict[str, Any] = {"bert": bert_version, "tfidf": tfidf_version, "chosen": chosen}
    for name in args.sets:
        if SETS[name].is_file():
            report[name] = curve(ensemble, bert, tfidf, _rows(SETS[name]), thresholds)
            print(name, json.dumps(report[name], ensure_ascii=False), file=sys.stderr)
    print_report(report, args.out)


if __name__ == "__main__":
    main()
