"""The default engine as a user gets it, through the ``sqmy`` command line into a fresh ``SQMY_HOME``:

    sqmy train --engine tfidf                 # what `make run` builds
    sqmy train --engine bert --promote        # what `make bert` builds (linear probe on e5-small, int8 ONNX)
    sqmy eval real-messages-dev.jsonl --engine auto|tfidf|bert

Trained on corpora/ alone; scored on the 200 real messages and on the archive's 948-message dev split (which
contains the 200). ``auto`` is what the service answers with: with SQMY_ENSEMBLE (the default) the log-linear pool
of the served int8 BERT and TF-IDF.

    .venv/bin/python bench/default_engine.py [--home DIR] [--bert-epochs 0] [--bert-max-length 256]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED_DATA
from bench.retrain_archive import run, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="SQMY_HOME to use (default: a fresh temporary one)")
    parser.add_argument("--bert-epochs", type=int, default=None, help="default: SQMY_BERT_EPOCHS (0 = probe)")
    parser.add_argument("--bert-max-length", type=int, default=None)
    parser.add_argument("--data", type=Path, nargs="+",
                        default=[SHARED_DATA / "real-messages-dev.jsonl", SHARED_DATA / "real-archive-dev.jsonl"])
    args = parser.parse_args()
    missing = [str(p) for p in args.data if not p.is_file()]
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)} (../shared/data is not part of a user's clone)")
    home = args.home or Path(tempfile.mkdtemp(prefix="sqmy-default-"))
    result: dict = {"home": str(home)}
    trained, seconds = run(home, "train", "--engine", "tfidf", "--if-missing")
    result["tfidf_train_seconds"] = round(seconds, 1)
    extra = []
    for flag, value in (("--epochs", args.bert_epochs), ("--max-length", args.bert_max_length)):
        if value is not None:
            extra += [flag, str(value)]
    trained, seconds = run(home, "train", "--engine", "bert", "--promote", *extra)
    result["bert"] = {"version": trained["version"], "promoted": trained["promoted"],
                      "train_wall_seconds": round(seconds, 1),
                      "gate": (trained.get("promotion") or {}).get("reasons")}
    print(json.dumps(result, ensure_ascii=False), file=sys.stderr)
    for path in args.data:
        result[path.stem] = {}
        for engine in ("tfidf", "bert", "auto"):
            report, seconds = run(home, "eval", str(path), "--engine", engine)
            result[path.stem][engine] = {"engine": report["engine"], **scores(report),
                                         "eval_wall_seconds": round(seconds, 1)}
        print(json.dumps({path.stem: result[path.stem]}, ensure_ascii=False), file=sys.stderr)
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
