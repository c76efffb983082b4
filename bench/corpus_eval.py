"""How well does a TF-IDF model trained on corpora/ alone route real messages?

Trains on the whole corpus (no held-out split), evaluates level-1 topic on
../shared/data/real-messages-dev.jsonl (200 real 问政 messages, 7 topics): accuracy, macro-F1 over the
topics present, per-class scores, ECE and the confusion matrix.

    .venv/bin/python bench/corpus_eval.py [--data ../shared/data/real-messages-dev.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, SHARED_DATA
from sqmy.core.config import Settings
from sqmy.core.labels import load_label_space
from sqmy.models.tfidf import TfidfEngine
from sqmy.training.data import corpus_files, load_items, to_training
from sqmy.training.evaluate import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "real-messages-dev.jsonl")
    parser.add_argument("--corpus", type=Path, default=REPO / "corpora")
    args = parser.parse_args()
    if not args.data.is_file():
        sys.exit(f"{args.data} not found: this benchmark needs ../shared/data")
    settings = Settings()
    labels = load_label_space(settings.TAXONOMY_PATH, settings.DIRECTORY_PATH)
    corpus = load_items(corpus_files(args.corpus), labels)
    real = load_items([args.data], labels)
    started = time.perf_counter()
    engine = TfidfEngine().fit(*to_training(corpus.items))
    train_seconds = time.perf_counter() - started
    report = evaluate(engine, real.items)["topic"]
    out = {"corpus_items": len(corpus.items), "eval_file": str(args.data.name), "eval_items": len(real.items),
           "train_seconds": round(train_seconds, 1), "accuracy": round(report["accuracy"], 4),
           "macro_f1": round(report["macro_f1"], 4), "ece": round(report["ece"], 4),
           "per_class_f1": {k: round(v["f1"], 3) for k, v in report["per_class"].items()},
           "confusion": report["confusion"]}
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
