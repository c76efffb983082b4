"""Encoder throughput of the int8 ONNX graphs the BERT engine serves, teacher against student, in one run: the
12-layer base encoder at 256 tokens (served now) and a student of ``--layers`` of its layers at ``--length``
tokens (the speed of a student does not depend on its training, only on its shape).

    SQMY_HOME=H .venv/bin/python bench/student_speed.py [--items 300] [--chars 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import generated_items
from sqmy.core.config import get_settings
from sqmy.models.bert_layers import padded_batches, torch_module
from sqmy.models.bert_onnx import OnnxRunner, export_pooled_onnx
from sqmy.models.bert_student import DEFAULT_LAYERS, student_from


def rate(encoder, tokenizer, texts: list[str], length: int, work: Path) -> dict[str, float]:
    runner = OnnxRunner(export_pooled_onnx(encoder, tokenizer, work), threads=torch_module().get_num_threads())
    ids = tokenizer(texts, truncation=True, max_length=length)["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    started = time.perf_counter()
    for _rows, input_ids, mask in padded_batches(ids, order, 64, tokenizer.pad_token_id, max_tokens=4096):
        runner(input_ids.numpy(), mask.numpy())
    seconds = time.perf_counter() - started
    return {"items_per_s": round(len(texts) / seconds, 1), "tokens_per_s": round(sum(map(len, ids)) / seconds),
            "mean_tokens": round(sum(map(len, ids)) / len(ids), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--chars", type=int, default=300)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--layers", default=",".join(map(str, DEFAULT_LAYERS)))
    args = parser.parse_args()
    teacher = get_settings().encoders_dir / "e5-small-zh"
    texts = [f"passage: {i['title']}。{i['text']}" for i in generated_items(args.items, chars=args.chars, seed=5)]
    layers = tuple(int(x) for x in args.layers.split(","))
    work = Path(tempfile.mkdtemp(prefix="sqmy-student-speed-"))
    out = {}
    for name, chosen, length in (("teacher_12L_256", tuple(range(12)), 256), (f"teacher_12L_{args.length}",
                                 tuple(range(12)), args.length), (f"student_{len(layers)}L_256", layers, 256),
                                 (f"student_{len(layers)}L_{args.length}", layers, args.length)):
        encoder, tokenizer = student_from(teacher, chosen)
        out[name] = rate(encoder.eval(), tokenizer, texts, length, work / name)
        print(name, out[name], file=sys.stderr)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
