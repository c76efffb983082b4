"""The retraining journey on a site's own labelled archive, through the ``sqmy`` command line:

    sqmy train --engine tfidf --data real-archive-train.jsonl [--no-corpus] --promote
    sqmy eval real-archive-dev.jsonl --engine tfidf

and the same for BERT (``--engines tfidf,bert``), then the default engine (``auto``, with the ensemble when
both are promoted and ``--ensemble``). Prints accuracy / macro-F1 on real-archive-dev.jsonl and wall times.

    .venv/bin/python bench/retrain_archive.py [--engines tfidf,bert] [--with-corpus] [--bert-epochs 3]
        [--bert-layers 12] [--bert-max-length 128] [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED_DATA, SQMY, bench_env


def run(home: Path, *args: str, **env: str) -> tuple[dict, float]:
    started = time.perf_counter()
    done = subprocess.run([SQMY, *args], env=bench_env(home, **env), stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"sqmy {' '.join(args)} failed (exit {done.returncode})")
    return json.loads(done.stdout), time.perf_counter() - started


def scores(report: dict) -> dict:
    topic = report["topic"]
    return {"accuracy": round(topic["accuracy"], 4), "macro_f1": round(topic["macro_f1"], 4),
            "ece": round(topic["ece"], 4), "n": topic["n"], "model_version": report["model_version"],
            "per_class_f1": {k: round(v["f1"], 3) for k, v in topic["per_class"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="tfidf")
    parser.add_argument("--with-corpus", action="store_true", help="train on corpus + archive (default: archive "
                        "for the topic, corpus only for the departments)")
    parser.add_argument("--train", type=Path, default=SHARED_DATA / "real-archive-train.jsonl")
    parser.add_argument("--dev", type=Path, default=SHARED_DATA / "real-archive-dev.jsonl")
    parser.add_argument("--bert-epochs", type=int, default=None,
                        help="default: sqmy train's own (fine-tuning when --data is given: 2 epochs)")
    parser.add_argument("--bert-layers", type=int, default=None)
    parser.add_argument("--bert-max-length", type=int, default=None, help="default: sqmy train's own (128 when "
                        "fine-tuning)")
    parser.add_argument("--ensemble", action="store_true", help="also score the BERT+TF-IDF ensemble")
    parser.add_argument("--home", type=Path, help="SQMY_HOME to use (default: a fresh temporary one)")
    args = parser.parse_args()
    if not args.train.is_file():
        raise SystemExit(f"{args.train} is missing (../shared/data is not part of a user's clone)")
    home = args.home or Path(tempfile.mkdtemp(prefix="sqmy-archive-"))
    corpus = [] if args.with_corpus else ["--no-corpus"]
    result: dict = {"home": str(home), "train": str(args.train), "dev": str(args.dev),
                    "corpus": "all labels" if args.with_corpus else "departments only"}
    for engine in args.engines.split(","):
        extra = []
        if engine == "bert":
            for flag, value in (("--epochs", args.bert_epochs), ("--max-length", args.bert_max_length)):
                extra += [flag, str(value)] if value is not None else []
            if args.bert_layers:
                extra += ["--layers", str(args.bert_layers)]
        trained, seconds = run(home, "train", "--engine", engine, "--data", str(args.train), *corpus, "--force",
                               *extra)
        report, eval_seconds = run(home, "eval", str(args.dev), "--engine", engine)
        result[engine] = scores(report) | {"train_wall_seconds": round(seconds, 1),
                                           "eval_wall_seconds": round(eval_seconds, 1),
                                           "internal_eval_split": trained["metrics"].get("topic")}
        print(json.dumps({engine: result[engine]}, ensure_ascii=False), file=sys.stderr)
    report, _ = run(home, "eval", str(args.dev), "--engine", "auto")
    result["default_engine"] = {"engine": report["engine"], **scores(report)}
    if args.ensemble and "bert" in args.engines:
        report, _ = run(home, "eval", str(args.dev), "--engine", "ensemble", SQMY_ENSEMBLE="true")
        result["ensemble"] = scores(report)
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
