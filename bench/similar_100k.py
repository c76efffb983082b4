"""The similarity index at 100k items, built once and reused (issue #17, round 3): indexing cost per batch as the
index grows, the cost of adding more to a full index, and the query path in process and through a real server.

    .venv/bin/python bench/similar_100k.py build /tmp/s100k           # once (minutes): filler + labelled set
    .venv/bin/python bench/similar_100k.py add /tmp/s100k --items 10000  # on a copy: items/s, CPU per item
    .venv/bin/python bench/similar_100k.py query /tmp/s100k            # in process: CPU per query, its stages
    .venv/bin/python bench/similar_100k.py http /tmp/s100k             # `sqmy serve` on a copy: p50/p99, CPU
    OTHER/.venv/bin/python bench/similar_100k.py add /tmp/s100k-old    # the same with another checkout's sqmy

``build`` writes ``DIR/similar`` (100,000 filler items of ``bench/similar_scale.py``, carrying their facts, in
batches of 1,000, then the 514 labelled reports) and prints, every 10 batches, the batch's CPU time by stage
(``time.process_time``). The other commands work on a copy (``DIR`` stays as built). The machine is shared: CPU
per item or query is the steadier figure; the load average is printed with each."""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqmy.app.similar.index as ix  # the interpreter's sqmy (another checkout's, to compare): imported first
from sqmy.app.similar.store import Entry, ItemStore
from sqmy.app.similar.vectors import Projection

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO))  # bench/ from this checkout

STAGES: collections.Counter[str] = collections.Counter()


def timed(owner: Any, name: str, label: str) -> None:
    """Wrap ``owner.name`` to add its CPU time to ``STAGES[label]``."""
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            STAGES[label] += time.process_time() - started
    setattr(owner, name, wrapper)


def build(directory: Path, n: int) -> None:
    from bench.similar_eval import load_set, projection
    from bench.similar_scale import _filler

    filler = _filler(n, facts=True)
    proj = projection(256)
    proj.save(directory / "similar" / "projection")
    index = ix.SimilarIndex(directory / "similar", proj, ix.Thresholds())
    for owner, name, label in ((ix, "signatures", "signatures"), (ix, "item_places", "places"),
                               (ix.SimilarIndex, "save", "snapshot"), (ItemStore, "add", "sqlite"),
                               (proj, "transform", "vectors"), (index._ann, "add", "graph")):
        timed(owner, name, label)
    for start in range(0, n, 1000):
        before, cpu = dict(STAGES), time.process_time()
        index.add(filler[start:start + 1000])
        if start // 1000 % 10 == 9:
            print(json.dumps({"indexed": start + 1000, "cpu_ms_per_item": round(time.process_time() - cpu, 3),
                              "load": round(os.getloadavg()[0], 1),
                              "stages_ms_per_item": {k: round(v - before.get(k, 0), 3) for k, v in STAGES.items()}}),
                  flush=True)
    index.add([Entry(id=i["id"], text=i["text"], title=i["title"], source="eval") for i in load_set()])
    index.close()


@contextmanager
def copy_of(directory: Path) -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="sqmy-s100k-"))
    try:
        shutil.copytree(directory / "similar", home / "similar")
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def open_index(home: Path, thresholds: ix.Thresholds | None = None) -> tuple[ix.SimilarIndex, float]:
    projection = Projection.load(home / "similar" / "projection")
    assert projection is not None, "run `build` first"
    started = time.perf_counter()
    index = ix.SimilarIndex(home / "similar", projection, thresholds or ix.Thresholds())
    return index, time.perf_counter() - started


def add(directory: Path, n: int) -> dict[str, Any]:
    from bench.similar_add import filler

    entries = filler(n, facts=True)
    for entry in entries:
        entry.id = f"more-{entry.id}"
    with copy_of(directory) as home:
        index, opened = open_index(home)
        load = [os.getloadavg()[0]]
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, n, 1000):
            index.add(entries[start:start + 1000])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        load.append(os.getloadavg()[0])
        started = time.perf_counter()
        index.close()
        return {"sqmy": str(Path(ix.__file__).resolve().parents[3]), "indexed": len(index),
                "open_s": round(opened, 2), "close_s": round(time.perf_counter() - started, 2),
                "items_per_second": round(n / wall), "cpu_ms_per_item": round(cpu / n * 1000, 3), "load": load}


def query(directory: Path, model: str = "pairwise") -> dict[str, Any]:
    """CPU per ``similar`` call in process, by stage (``model``: how answers are scored, ``Thresholds.model``)."""
    from bench.similar_eval import load_set

    items = load_set()
    with copy_of(directory) as home:
        cosine = ix.Thresholds(same_matter=0.31, model="cosine")
        index, opened = open_index(home, cosine if model == "cosine" else None)
        for owner, name, label in ((ix, "places_of", "places"), (index.store, "rows", "sqlite"),
                                   (index.projection, "cosines", "sparse"), (index, "_rank", "rank"),
                                   (ix.pairs, "features", "model"), (ix.pairs, "probability", "model"),
                                   (index._lsh, "query", "lsh"), (index._ann, "search", "graph"),
                                   (index.projection, "transform", "vector")):
            timed(owner, name, label)
        for q in items[:50]:  # warm
            index.similar(q["text"], q["title"])
        STAGES.clear()
        cpu, wall = [], []
        for q in items:
            started, cpu_started = time.perf_counter(), time.process_time()
            index.similar(q["text"], q["title"])
            cpu.append(time.process_time() - cpu_started)
            wall.append(time.perf_counter() - started)
        index.close()
    cpu.sort()
    wall.sort()
    n = len(items)
    return {"sqmy": str(Path(ix.__file__).resolve().parents[3]), "model": model, "indexed": len(index),
            "open_s": round(opened, 2), "queries": n, "cpu_ms_mean": round(statistics.mean(cpu) * 1000, 2),
            "cpu_ms_p99": round(cpu[int(n * 0.99)] * 1000, 2), "wall_ms_p50": round(wall[n // 2] * 1000, 2),
            "wall_ms_p99": round(wall[int(n * 0.99)] * 1000, 2), "load": os.getloadavg()[0],
            "stages_ms_per_query": {k: round(v / n * 1000, 3) for k, v in STAGES.items()}}


def http(directory: Path, queries: int) -> dict[str, Any]:
    """``sqmy serve`` on a copy with a TF-IDF model (trained once into bench/out/similar-scale-models)."""
    from bench.common import ensure_model
    from bench.similar_scale import _latency

    cached = REPO / "bench" / "out" / "similar-scale-models"
    with copy_of(directory) as home:
        if cached.is_dir():
            shutil.copytree(cached, home / "models")
        ensure_model(home)
        if not cached.is_dir():
            shutil.copytree(home / "models", cached)
        load = os.getloadavg()[0]
        out = _latency(home, queries)
        out["load"] = [load, os.getloadavg()[0]]
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("build", "add", "query", "http"))
    parser.add_argument("directory", type=Path)
    parser.add_argument("--items", type=int, default=None, help="build: 100000; add: 10000")
    parser.add_argument("--queries", type=int, default=1000, help="http: how many")
    parser.add_argument("--model", choices=("pairwise", "cosine"), default="pairwise",
                        help="query: how answers are scored (cosine: round 3's score)")
    args = parser.parse_args()
    if args.command == "build":
        build(args.directory, args.items or 100_000)
        return
    if args.command == "add":
        result = add(args.directory, args.items or 10_000)
    elif args.command == "query":
        result = query(args.directory, args.model)
    else:
        result = http(args.directory, args.queries)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
