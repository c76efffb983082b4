"""Inference speed of a saved BERT engine: torch fp32 vs onnxruntime int8, at 128 and 256 tokens.

    .venv/bin/python bench/bert_speed.py MODEL_DIR [--layers N]   (exports the ONNX graphs when missing)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import generated_items
from sqmy.models.base import Doc
from sqmy.models.bert import BertEngine
from sqmy.models.bert_onnx import INT8_NAME, export_onnx


def measure(engine: BertEngine, length: int, n: int = 96) -> dict[str, float]:
    engine.max_length = length
    docs = [Doc(i["text"], i["title"]) for i in generated_items(n, chars=600, seed=3)]
    engine.predict_proba(docs[:8])
    started = time.perf_counter()
    for start in range(0, n, 16):
        engine.predict_proba(docs[start:start + 16])
    rate = n / (time.perf_counter() - started)
    single = []
    for doc in docs[:20]:
        t = time.perf_counter()
        engine.predict_proba([doc])
        single.append(time.perf_counter() - t)
    return {"items_per_s": round(rate, 1), "p50_ms_one_item": round(1000 * float(np.median(single)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    args = parser.parse_args()
    if not (args.model / INT8_NAME).is_file():
        engine = BertEngine.load(args.model, runtime="torch")
        export_onnx(engine.encoder_, engine.heads_, engine.tokenizer_, args.model)
    out = {}
    for runtime in ("torch", "onnx"):
        engine = BertEngine.load(args.model, runtime=runtime)
        layers = len(engine.encoder_.encoder.layer)
        out[f"{runtime}-{layers}L"] = {str(n): measure(engine, n) for n in (128, 256)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
