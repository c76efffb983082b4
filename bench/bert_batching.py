"""How the int8 BERT graph's calls are cut, in one process (issue #18, rounds 2 and 6): round 5's batches (sorted,
up to 64 rows / 4,096 padded tokens, padded to the longest) against round 6's (up to 16 rows of about the same
length, at most 10 % padding: ``ONNX_ROWS`` / ``ONNX_PADDING`` in ``sqmy.models.bert``), alternating, two rounds.

Cases: the probe's items in random groups of 1, 4 and 10 (what an ``auto`` batch hands BERT on a busy server: a
few unsure items of any length) and generated items of 300 characters in one call (``sqmy batch``). Reported: CPU
seconds of this process per 1,000 real tokens (what survives a shared machine) and wall tokens/s. Run it again with
``SQMY_ORT_SPINNING=true`` to compare onnxruntime's spinning (round 2).

    .venv/bin/python bench/bert_batching.py --home H [--items 256]

``H`` is an SQMY_HOME with a promoted BERT model served from its int8 graph.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import generated_items

PROBE = Path(__file__).resolve().parent / "probe" / "taxonomy-probe.jsonl"
POLICIES = {"round 5: 64 rows / 4,096 tokens": (64, 4096, None), "round 6: 16 rows, <= 10 % padding": (16, None, 0.1)}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--items", type=int, default=256)
    args = parser.parse_args()
    import sqmy.models.bert as bert
    from sqmy.models import ModelRegistry, load_engine
    from sqmy.models.base import Doc

    registry = ModelRegistry(args.home / "models")
    engine = load_engine(registry.path(registry.current("bert")))
    rows = [json.loads(line) for line in PROBE.open(encoding="utf-8") if line.strip()]
    probe = random.Random(0).sample([Doc(title=r.get("title") or "", text=r["text"]) for r in rows], 120)
    generated = [Doc(title=i["title"], text=i["text"]) for i in generated_items(args.items, chars=300, seed=2)]
    cases = [(f"probe items, groups of {k}", probe, k) for k in (1, 4, 10)]
    cases.append((f"{args.items} generated items of 300 characters, one call", generated, len(generated)))
    engine.predict_proba(probe[:8])  # warm-up
    runs = []
    for name in [*POLICIES, *reversed(POLICIES)]:
        bert.ONNX_ROWS, bert.ONNX_TOKENS, bert.ONNX_PADDING = POLICIES[name]
        for case, docs, k in cases:
            tokens = sum(len(x) for x in engine._encode(engine._texts(docs)))
            wall, cpu = time.perf_counter(), cpu_seconds()
            for start in range(0, len(docs), k):
                engine.predict_proba(docs[start:start + k])
            wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
            runs.append({"policy": name, "case": case, "tokens": tokens, "tokens_per_s": round(tokens / wall),
                         "cpu_s_per_1000_tokens": round(1000 * cpu / tokens, 3)})
    print(json.dumps({"ort_spinning": os.environ.get("SQMY_ORT_SPINNING", "false"),
                      "load_average": os.getloadavg(), "runs": runs}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
