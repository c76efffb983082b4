"""Indexing rate, memory and /v1/similar latency at scale (issue #17): called by bench/similar_eval.py --scale N.

Filler items are stitched from corpora/ sentences (``bench.common.generated_items``, 60-400 characters); the
evaluation set is indexed with them, and the queries are its reports, through a real server (HTTP, keep-alive)."""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import REPO, SQMY, bench_env, ensure_model, generated_items
from sqmy.app.similar.index import SimilarIndex, Thresholds
from sqmy.app.similar.store import Entry
from sqmy.app.similar.vectors import Projection


def _filler(n: int, facts: bool = False) -> list[Entry]:
    """Filler entries; with ``facts``, each carries the facts of its body as ``/v1/classify`` and ``sqmy batch``
    hand them to the index (extracted here, before any timing)."""
    rng = random.Random(7)
    items = generated_items(n, chars=400, seed=3)
    out = [Entry(id=i["id"], text=i["text"][: rng.randint(60, 400)], title=i["title"], source="filler",
                 date=f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}") for i in items]
    if facts:
        from sqmy.core.facts import extract_facts

        for entry in out:
            entry.extra["facts"] = [f.to_dict() for f in extract_facts(entry.text)]
    return out


def _quality(index: SimilarIndex) -> dict[str, Any]:
    """The labelled set's queries against the whole index (filler included), at the index's thresholds."""
    from bench.similar_eval import load_set, metrics, scored

    items = load_set()
    answers = scored(index, items)
    matters = sorted({i["matter"] for i in items})
    every = {i["id"] for i in items}
    test = {i["id"] for i in items if matters.index(i["matter"]) % 2 == 1}
    items += [{"id": a["id"], "matter": f"filler:{a['id']}", "dup_of": None}  # a filler answer: never the matter
              for found in answers.values() for a in found if a["id"] not in every]
    return {"test_half": metrics(items, answers, index.thresholds, test),
            "all": metrics(items, answers, index.thresholds, every)}


def _build(home: Path, n: int, projection: Projection, t: Thresholds) -> dict[str, Any]:
    from bench.similar_eval import load_set

    directory = home / "similar"
    projection.save(directory / "projection")
    filler = _filler(n, facts=True)
    process = psutil.Process()
    before = process.memory_info().rss
    index = SimilarIndex(directory, projection, t)
    load_before = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(filler), 1000):
        index.add(filler[start:start + 1000])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    load = (load_before, os.getloadavg()[0])
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
           "cpu_ms_per_item": round(cpu / n * 1000, 3), "load_average_during_add": load,
           "graph_memory_mb": round(reopened.memory_bytes() / 2**20, 1), "process_rss_growth_mb": round(rss / 2**20),
           "snapshot_save_s": round(save, 2), "reopen_s": round(reopen, 2),
           "disk_mb": {k: round(v / 2**20, 1) for k, v in size.items() if not k.endswith(("-wal", "-shm", "lock"))}}
    print(json.dumps(out), file=sys.stderr, flush=True)  # before the slower parts
    out["quality_at_scale"] = _quality(reopened)
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
            for report in reports[-50:]:  # warm: the first queries of a process pay for lazy imports and caches
                # (the last reports: with ``queries`` <= 464 no measured text was seen before, none is cached)
                client.post(f"{url}/v1/similar", json={"title": report["title"], "text": report["text"]})
            cpu = psutil.Process(server.pid).cpu_times()
            times = []
            for n in range(queries):
                report = reports[n % len(reports)]
                started = time.perf_counter()
                response = client.post(f"{url}/v1/similar", json={"title": report["title"], "text": report["text"]})
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
            done = psutil.Process(server.pid).cpu_times()
    finally:
        server.terminate()
        server.wait(timeout=60)
    times.sort()
    return {"queries": queries, "p50_ms": round(statistics.median(times) * 1000, 1),
            "p99_ms": round(times[int(len(times) * 0.99) - 1] * 1000, 1), "max_ms": round(times[-1] * 1000, 1),
            "server_cpu_ms_per_query": round((done.user + done.system - cpu.user - cpu.system) / queries * 1000, 2),
            "server_rss_mb": round(rss / 2**20)}


def scale(n: int, projection: Projection, t: Thresholds, queries: int = 1000) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="sqmy-similar-scale-"))
    try:
        cached = REPO / "bench" / "out" / "similar-scale-models"  # the TF-IDF model the server needs, trained once
        if cached.is_dir():
            shutil.copytree(cached, home / "models")
        ensure_model(home)
        if not cached.is_dir():
            shutil.copytree(home / "models", cached)
        built = _build(home, n, projection, t)
        return {"filler": n, "cpus": os.cpu_count(), "load_average": os.getloadavg(), "build": built,
                "latency": _latency(home, queries)}
    finally:
        shutil.rmtree(home, ignore_errors=True)
