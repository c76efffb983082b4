"""BERT serving throughput by batching policy and ONNX Runtime spinning (issue #18), in one process.

Predicts the same generated items (300 characters, ~226 tokens) with fixed batches of 16 and with the token budget
(``INFERENCE_ROWS`` / ``INFERENCE_TOKENS`` in ``sqmy.models.bert``), twice each, interleaved. Run it twice to
compare spinning (``SQMY_ORT_SPINNING=true``) with the default:

    .venv/bin/python bench/bert_batching.py --home H [--items 96]
    SQMY_ORT_SPINNING=true .venv/bin/python bench/bert_batching.py --home H

``H`` is an SQMY_HOME with a promoted BERT model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import generated_items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--items", type=int, default=96)
    args = parser.parse_args()
    import sqmy.models.bert as bert
    from sqmy.models import ModelRegistry, load_engine
    from sqmy.models.base import Doc

    registry = ModelRegistry(args.home / "models")
    engine = load_engine(registry.path(registry.current("bert")))
    docs = [Doc(title=i["title"], text=i["text"]) for i in generated_items(args.items, chars=300, seed=5)]
    ids = engine._encode(engine._texts(docs))
    engine.predict_proba(docs[:8])  # warm-up
    runs = []
    for rows, tokens in [(16, None), (64, 4096), (16, None), (64, 4096)]:
        bert.INFERENCE_ROWS, bert.INFERENCE_TOKENS = rows, tokens
        started = time.perf_counter()
        engine.predict_proba(docs)
        runs.append({"max_rows": rows, "max_tokens": tokens,
                     "items_per_s": round(len(docs) / (time.perf_counter() - started), 1)})
    print(json.dumps({"items": len(docs), "mean_tokens": round(sum(map(len, ids)) / len(ids), 1),
                      "ort_spinning": os.environ.get("SQMY_ORT_SPINNING", "false"), "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
