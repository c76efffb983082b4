"""Indexing rate, memory and /v1/similar latency at scale (issue #17): called by bench/similar_eval.py --scale N.

Filler items are stitched from corpora/ sentences (``bench.common.generated_items``, 60-400 characters); the
evaluation set is indexed with them, and the queries are its reports, through a real server (HTTP, keep-alive)."""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import SQMY, bench_env, ensure_model, generated_items
from sqmy.app.similar.index import SimilarIndex, Thresholds
from sqmy.app.similar.store import Entry
from sqmy.app.similar.vectors import Projection


def _filler(n: int) -> list[Entry]:
    rng = random.Random(7)
    items = generated_items(n, chars=400, seed=3)
    return [Entry(id=i["id"], text=i["text"][: rng.randint(60, 400)], title=i["title"], source="filler",
                  date=f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}") for i in items]


def _build(home: Path, n: int, projection: Projection, t: Thresholds) -> dict[str, Any]:
    from bench.similar_eval import load_set

    directory = home / "similar"
    projection.save(directory / "projection")
    filler = _filler(n)
    process = psutil.Process()
    before = process.memory_info().rss
    index = SimilarIndex(directory, projection, t)
    started = time.perf_counter()
    for start in range(0, len(filler), 1000):
        index.add(filler[start:start + 1000])
    seconds = time.perf_counter() - started
    index.add([Entry(id=i["id"], text=i["text"], title=i["title"], source="eval") for i in load_set()])
    rss = process.memory_info().rss - before
    started = time.perf_counter()
    index.close()
    save = time.perf_counter() - started
    started = time.perf_counter()
    reopened = SimilarIndex(directory, projection, t)
    reopen = time.perf_counter() - started
    size = {p.name: p.stat().st_size for p in directory.iterdir() if p.is_file()}
    out = {"items": len(reopened), "add_seconds": round(seconds, 1), "items_per_second": round(n / seconds),
           "graph_memory_mb": round(reopened.memory_bytes() / 2**20, 1), "process_rss_growth_mb": round(rss / 2**20),
           "snapshot_save_s": round(save, 2), "reopen_s": round(reopen, 2),
           "disk_mb": {k: round(v / 2**20, 1) for k, v in size.items() if not k.endswith(("-wal", "-shm", "lock"))}}
    reopened.close()
    return out


def _latency(home: Path, queries: int) -> dict[str, Any]:
    from bench.similar_eval import load_set

    port = 8700 + os.getpid() % 200
    server = subprocess.Popen([SQMY, "serve", "--port", str(port)], env=bench_env(home),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=120) as client:
            for _ in range(600):
                try:
                    client.get(f"{url}/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            reports = load_set()
            client.post(f"{url}/v1/similar", json={"text": reports[0]["text"]})  # waits for the index to open
            rss = psutil.Process(server.pid).memory_info().rss
            times = []
            for n in range(queries):
                report = reports[n % len(reports)]
                started = time.perf_counter()
                response = client.post(f"{url}/v1/similar", json={"title": report["title"], "text": report["text"]})
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
    finally:
        server.terminate()
        server.wait(timeout=60)
    times.sort()
    return {"queries": queries, "p50_ms": round(statistics.median(times) * 1000, 1),
            "p99_ms": round(times[int(len(times) * 0.99) - 1] * 1000, 1), "max_ms": round(times[-1] * 1000, 1),
            "server_rss_mb": round(rss / 2**20)}


def scale(n: int, projection: Projection, t: Thresholds, queries: int = 1000) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="sqmy-similar-scale-"))
    try:
        ensure_model(home)
        built = _build(home, n, projection, t)
        return {"filler": n, "cpus": os.cpu_count(), "load_average": os.getloadavg(), "build": built,
                "latency": _latency(home, queries)}
    finally:
        shutil.rmtree(home, ignore_errors=True)
