"""Soak and head-of-line test of the HTTP service: single-item requests alone, then beside back-to-back maximal
batches (256 × 20,000 characters), then a mixed soak; the server's memory sampled throughout.

    .venv/bin/python bench/soak.py [--home H] [--seconds 60]

H is a SQMY_HOME with the default TF-IDF model (trained from corpora/ when missing). Prints one JSON object."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
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


def tree(process: psutil.Process) -> list[psutil.Process]:
    """The server and its child processes (the bulk worker)."""
    try:
        return [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return [process]


def cpu_seconds(process: psutil.Process) -> float:
    """CPU seconds used so far by the server and its children (user + system)."""
    total = 0.0
    for p in tree(process):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def sample_rss(process: psutil.Process, rss: dict[int, list[float]]) -> None:
    for p in tree(process):
        with contextlib.suppress(psutil.NoSuchProcess):
            rss.setdefault(p.pid, []).append(p.memory_info().rss / 2**20)


def phase(url: str, seconds: float, *, with_heavy: bool, rss: dict[int, list[float]],
          process: psutil.Process) -> dict:
    stop, latencies, failures, batches = threading.Event(), [], [], []
    cpu0, load0 = cpu_seconds(process), os.getloadavg()[0]
    threads = [threading.Thread(target=singles, args=(url, stop, latencies, failures)) for _ in range(4)]
    if with_heavy:
        threads.append(threading.Thread(target=heavy, args=(url, stop, batches, failures)))
    for t in threads:
        t.start()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sample_rss(process, rss)
        time.sleep(1)
    stop.set()
    for t in threads:
        t.join()
    ms = np.array(latencies) * 1000
    return {"single_requests": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1), "max_batches": len(batches),
            "max_batch_s": round(float(np.mean(batches)), 2) if batches else None, "failures": len(failures),
            "server_cpu_s": round(cpu_seconds(process) - cpu0, 1),  # server and bulk worker together
            "server_cpu_ms_per_single": round((cpu_seconds(process) - cpu0) * 1000 / max(len(ms), 1), 2),
            "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)]}


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
    rss: dict[int, list[float]] = {}
    try:
        alone = phase(server.url, 20, with_heavy=False, rss=rss, process=process)
        beside = phase(server.url, 20, with_heavy=True, rss=rss, process=process)
        soak = phase(server.url, args.seconds, with_heavy=True, rss=rss, process=process)
    finally:
        started = time.monotonic()
        server.process.terminate()
        stopped = server.process.wait(timeout=300)
        stop_s = round(time.monotonic() - started, 1)
    print(json.dumps({"singles_alone": alone, "singles_beside_max_batches": beside, "soak": soak,
                      "p99_added_ms": round(beside["p99_ms"] - alone["p99_ms"], 1),
                      "rss_mb": {("server" if pid == process.pid else f"child {pid}"):
                                 {"first": round(v[0]), "max": round(max(v)), "last": round(v[-1])}
                                 for pid, v in rss.items()},
                      "stop_s": stop_s, "exit_code": stopped, "cpus": os.cpu_count()}, indent=1))

if __name__ == "__main__":
    main()
