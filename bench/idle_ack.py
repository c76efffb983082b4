"""What storing a classification before acknowledging it costs an idle server (issue #15, item 6).

One `sqmy serve` (TF-IDF trained on `corpora/`), one client sending ``--requests`` classifications one after
another (so the classification log is idle at each), then 40 concurrent clients (a busy log that batches behind
the answer). Prints per executable: sequential latency p50/p90/p99 (ms) and the concurrent rate (requests/s).

    .venv/bin/python bench/idle_ack.py [--requests 300] [--sqmy PATH ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, SQMY, ensure_model, generated_items
from bench.two_servers import start_server, wait_ready


def sequential_ms(url: str, items: list[dict[str, str]]) -> list[float]:
    times = []
    with httpx.Client(timeout=60) as client:
        for item in items:
            started = time.perf_counter()
            client.post(f"{url}/v1/classify", json=item).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return times


async def concurrent_rate(url: str, items: list[dict[str, str]], clients: int = 40) -> float:
    queue = list(items)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        async def worker() -> None:
            while queue:
                (await client.post(f"{url}/v1/classify", json=queue.pop())).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
    return len(items) / (time.perf_counter() - started)


def measure(sqmy: str, model_home: Path, items: list[dict[str, str]]) -> dict[str, object]:
    home = Path(tempfile.mkdtemp(prefix="sqmy-idle-ack-"))
    shutil.copytree(model_home / "models", home / "models")
    port, url = 18751, "http://127.0.0.1:18751"
    server = start_server(sqmy, home, port, home / "server.log")
    try:
        wait_ready(url, server)
        sequential_ms(url, items[:20])  # warm-up
        times = sorted(sequential_ms(url, items))
        rate = asyncio.run(concurrent_rate(url, items * 4))
    except Exception:
        sys.stderr.write((home / "server.log").read_text(encoding="utf-8", errors="replace")[-3000:])
        raise
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(home, ignore_errors=True)
    quantile = statistics.quantiles(times, n=100)
    return {"sqmy": sqmy, "sequential_requests": len(times), "p50_ms": round(quantile[49], 2),
            "p90_ms": round(quantile[89], 2), "p99_ms": round(quantile[98], 2),
            "concurrent_requests": len(items) * 4, "concurrent_req_per_s": round(rate, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--sqmy", nargs="+", default=[SQMY], help="executables to compare, measured in turn")
    args = parser.parse_args()
    model_home = OUT / "two_servers_model"
    ensure_model(model_home)
    items = generated_items(args.requests, chars=300, seed=1)
    for sqmy in args.sqmy:
        print(json.dumps(measure(sqmy, model_home, items)), flush=True)


if __name__ == "__main__":
    main()
