"""Cost of adding items to the similarity index (issue #17): wall items/s and CPU ms per item, one process.

    .venv/bin/python bench/similar_add.py --items 10000             # entries carrying the classifier's facts
    .venv/bin/python bench/similar_add.py --items 10000 --no-facts  # places extracted by the index itself
    OTHER/.venv/bin/python bench/similar_add.py --items 10000       # the same with another checkout's sqmy

Filler items of 60-400 characters stitched from corpora/ (as in ``bench/similar_scale.py``), batches of 1,000 into
a fresh index; the projection is the one ``bench/similar_eval.py`` caches in bench/out/ (run it once first). The
``sqmy`` timed is the interpreter's (this script adds no tree to the path). The machine is shared: the CPU time
per item (``time.process_time``) is the steadier figure, printed with the load average before and after."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import sqmy.app.similar.index as timed
from sqmy.app.similar.index import SimilarIndex, Thresholds
from sqmy.app.similar.store import Entry
from sqmy.app.similar.vectors import Projection

HERE = Path(__file__).resolve().parents[1]


def filler(n: int, facts: bool) -> list[Entry]:
    rows = [json.loads(line) for path in sorted((HERE / "corpora").glob("*.jsonl"))
            for line in path.open(encoding="utf-8") if line.strip()]
    rng, out = random.Random(3), []
    for i in range(n):
        base = rng.choice(rows)
        text = base["text"]
        while len(text) < 400:
            text += rng.choice(rows)["text"]
        out.append(Entry(id=f"gen-{i}", text=text[:rng.randint(60, 400)], title=base["title"], source="filler"))
    if facts:
        from sqmy.core.facts import extract_facts

        for entry in out:
            entry.extra["facts"] = [f.to_dict() for f in extract_facts(entry.text)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--no-facts", action="store_true", help="entries without facts: the index extracts places")
    args = parser.parse_args()
    projection = Projection.load(HERE / "bench" / "out" / "similar-projection-256")
    assert projection is not None, "run bench/similar_eval.py once first (it fits and caches the projection)"
    entries = filler(args.items, facts=not args.no_facts)
    home = Path(tempfile.mkdtemp(prefix="sqmy-similar-add-"))
    try:
        index = SimilarIndex(home / "similar", projection, Thresholds())
        load = [os.getloadavg()[0]]
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(entries), 1000):
            index.add(entries[start:start + 1000])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        load.append(os.getloadavg()[0])
        index.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps({"sqmy": str(Path(timed.__file__).resolve().parents[3]), "items": args.items,
                      "facts_given": not args.no_facts, "items_per_second": round(args.items / wall),
                      "cpu_ms_per_item": round(cpu / args.items * 1000, 3), "load_average": load}))


if __name__ == "__main__":
    main()
