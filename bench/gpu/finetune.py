"""Fine-tune the BERT engine on corpora/opinions.jsonl on whatever device is there (a GPU when lent), report
wall time and inference speed, and save the model (encoder in fp16 for transport).

Needs only numpy, scipy, scikit-learn, torch and transformers (no sqmy service dependencies), so it runs on
the GPU machine's stock image:  python3 bench/gpu/finetune.py --base BASE_DIR --out MODEL_DIR
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqmy.models.base import Doc, Targets
from sqmy.models.bert import BertEngine

REPO = Path(__file__).resolve().parents[2]

parser = argparse.ArgumentParser()
parser.add_argument("--base", required=True)
parser.add_argument("--out", required=True, type=Path)
parser.add_argument("--layers", type=int, default=None)
parser.add_argument("--max-length", type=int, default=256)
parser.add_argument("--epochs", type=int, default=4)
parser.add_argument("--batch-size", type=int, default=16)
parser.add_argument("--limit", type=int, default=None, help="first N items only (smoke test)")
args = parser.parse_args()

rows = [json.loads(line) for line in (REPO / "corpora" / "opinions.jsonl").open(encoding="utf-8")][: args.limit]
docs = [Doc(text=r["text"], title=r["title"]) for r in rows]
targets = Targets(topic_l1=[r["topic"] for r in rows], topic_l2=["/".join(r["topic_path"]) for r in rows],
                  lead=[r["lead"] for r in rows], involved=[[r["lead"], *r["assist"]] for r in rows])
import torch  # noqa: E402

print("device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu", file=sys.stderr)
started = time.perf_counter()
engine = BertEngine(base=args.base, n_layers=args.layers, max_length=args.max_length, epochs=args.epochs,
                    batch_size=args.batch_size).fit(docs, targets, log=lambda m: print(m, file=sys.stderr))
train_seconds = time.perf_counter() - started
engine.metadata_ |= {"version": f"bert-bench-{args.layers or 12}L-{args.max_length}", "train_seconds": train_seconds}
speed = {}
for length in (128, 256):
    engine.max_length = length
    sample = [Doc(text=(r["text"] * 4)[:600], title=r["title"]) for r in rows[:512]]
    engine.predict_proba(sample[:32])
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    engine.predict_proba(sample)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    speed[str(length)] = round(len(sample) / (time.perf_counter() - t), 1)
engine.max_length = args.max_length
engine.encoder_.half()
engine.save(args.out)
print(json.dumps({"items": len(rows), "layers": args.layers or 12, "max_length": args.max_length,
                  "batch_size": args.batch_size, "epochs_run": len(engine.metadata_["history"]),
                  "history": engine.metadata_["history"], "train_seconds": round(train_seconds, 1),
                  "inference_items_per_s": speed, "temperatures": engine.temperatures_,
                  "device": str(engine._device()), "torch": torch.__version__}, indent=1))
print(np.__version__, file=sys.stderr)
