"""Soak and head-of-line test of the HTTP service: single-item requests alone, then beside back-to-back maximal
batches (256 × 20,000 characters), then a mixed soak; the server's memory sampled throughout.

    .venv/bin/python bench/soak.py [--home H] [--seconds 60]

H is a SQMY_HOME with the default TF-IDF model (trained from corpora/ when missing). Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ensure_model, generated_items
from tests.conftest import Server


def singles(url: str, stop: threading.Event, latencies: list[float], failures: list[int]) -> None:
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            started = time.perf_counter()
            r = client.post(f"{url}/v1/classify", json={"text": "小区门口路灯坏了一个多月，晚上出行不安全，请尽快维修"})
            latencies.append(time.perf_counter() - started)
            if r.status_code != 200:
                failures.append(r.status_code)


def heavy(url: str, stop: threading.Event, done: list[float], failures: list[int]) -> None:
    items = [{"text": row["text"]} for row in generated_items(256, chars=20_000)]
    with httpx.Client(timeout=300) as client:
        while not stop.is_set():
            started = time.perf_counter()
            r = client.post(f"{url}/v1/classify/batch", json={"items": items})
            done.append(time.perf_counter() - started)
            if r.status_code != 200:
                failures.append(r.status_code)


def phase(url: str, seconds: float, *, with_heavy: bool, rss: list[float], process: psutil.Process) -> dict:
    stop, latencies, failures, batches = threading.Event(), [], [], []
    threads = [threading.Thread(target=singles, args=(url, stop, latencies, failures)) for _ in range(4)]
    if with_heavy:
        threads.append(threading.Thread(target=heavy, args=(url, stop, batches, failures)))
    for t in threads:
        t.start()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rss.append(process.memory_info().rss / 2**20)
        time.sleep(1)
    stop.set()
    for t in threads:
        t.join()
    ms = np.array(latencies) * 1000
    return {"single_requests": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1), "max_batches": len(batches),
            "max_batch_s": round(float(np.mean(batches)), 2) if batches else None, "failures": len(failures)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--env", action="append", default=[], metavar="SQMY_X=V",
                        help="a setting for the server, e.g. SQMY_FACTS=false (repeatable)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="sqmy-soak-"))
    ensure_model(home)
    server = Server(home, SQMY_AUTH="off", **dict(kv.split("=", 1) for kv in args.env))
    process = psutil.Process(server.process.pid)
    rss: list[float] = []
    try:
        alone = phase(server.url, 20, with_heavy=False, rss=rss, process=process)
        beside = phase(server.url, 20, with_heavy=True, rss=rss, process=process)
        soak = phase(server.url, args.seconds, with_heavy=True, rss=rss, process=process)
    finally:
        server.stop()
    print(json.dumps({"singles_alone": alone, "singles_beside_max_batches": beside, "soak": soak,
                      "p99_added_ms": round(beside["p99_ms"] - alone["p99_ms"], 1),
                      "rss_mb": {"first": round(rss[0]), "max": round(max(rss)), "last": round(rss[-1])}}, indent=1))


if __name__ == "__main__":
    main()
