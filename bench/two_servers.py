"""Two `sqmy serve` processes on one SQLite home under concurrent writes (issue #15, item 5).

Starts two servers on the same SQMY_HOME (one SQLite file) and sends ``--runs`` runs of ``--requests`` requests
from ``--clients`` concurrent clients, spread over both servers: classifications (each stored by the server's
classification log) and, for ``--feedback-share`` of them, a verdict on a classification just made (feedback +
audit entry). Prints per run and in total: requests, 5xx count, "database is locked" count (in response bodies and
in the servers' logs), other non-2xx, transport errors, requests/s.

    .venv/bin/python bench/two_servers.py [--runs 10] [--requests 2000] [--clients 40] [--sqmy PATH]

``--feedback-share -1`` sends verdicts only (every request a write transaction: the write-lock stress test).

Target (issue #15): 0 5xx and 0 "database is locked" over 10 runs of 2,000 requests from 40 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, SQMY, bench_env, ensure_model, generated_items

TOPICS = ["城乡建设/住房保障与房地产", "交通运输", "劳动和社会保障", "教育文体", "卫生计生"]
LOCKED = "database is locked"


def start_server(sqmy: str, home: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    return subprocess.Popen([sqmy, "serve", "--port", str(port)], env=bench_env(home, SQMY_AUTH="off"),
                            stdout=log, stderr=subprocess.STDOUT)


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server at {url} exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} not ready within 120 s")


async def one_client(client: httpx.AsyncClient, urls: list[str], jobs: asyncio.Queue[int],
                     items: list[dict[str, str]], share: float, tally: Counter[str], rng: random.Random) -> None:
    while True:
        try:
            n = jobs.get_nowait()
        except asyncio.QueueEmpty:
            return
        url = rng.choice(urls)
        item = items[n % len(items)]
        responses: list[httpx.Response] = []
        try:
            if share < 0:  # writes only: a verdict on an item given by its text (no classification first)
                verdict = {"item_id": f"w-{n}", "title": item["title"], "text": item["text"],
                           "topic": rng.choice(TOPICS), "editor": "压测"}
                responses.append(await client.post(f"{url}/v1/feedback", json=verdict))
            else:
                responses.append(await client.post(f"{url}/v1/classify", json={"id": f"b-{n}", **item}))
            if responses[0].status_code == 200 and rng.random() < share:
                verdict = {"classification_id": responses[0].json()["classification_id"],
                           "topic": rng.choice(TOPICS), "editor": "压测"}
                responses.append(await client.post(f"{url}/v1/feedback", json=verdict))
        except httpx.TransportError as exc:
            tally["transport_errors"] += 1
            tally[f"transport_{type(exc).__name__}"] += 1
        for response in responses:
            kind = "feedback" if response.url.path.endswith("feedback") else "classify"
            tally[f"{kind}_{response.status_code // 100}xx"] += 1
            if response.status_code >= 500:
                tally["5xx"] += 1
            if LOCKED in response.text:
                tally["locked_in_responses"] += 1


async def run_once(urls: list[str], requests: int, clients: int, items: list[dict[str, str]], share: float,
                   seed: int) -> Counter[str]:
    """``requests`` counts HTTP requests: each job is a classification, some followed by a verdict."""
    jobs: asyncio.Queue[int] = asyncio.Queue()
    for n in range(int(requests / (1 + max(share, 0)))):
        jobs.put_nowait(seed * 1_000_000 + n)
    tally: Counter[str] = Counter()
    # idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them under the client
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        await asyncio.gather(*(one_client(client, urls, jobs, items, share, tally, random.Random(seed * 100 + c))
                               for c in range(clients)))
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--feedback-share", type=float, default=0.25,
                        help="share of classifications judged; -1: verdicts only (write stress, no classification)")
    parser.add_argument("--sqmy", default=SQMY, help="the sqmy executable (another checkout's, for a baseline)")
    args = parser.parse_args()

    model_home = OUT / "two_servers_model"
    ensure_model(model_home)
    home = Path(tempfile.mkdtemp(prefix="sqmy-two-servers-"))
    shutil.copytree(model_home / "models", home / "models")
    items = generated_items(500, chars=300)
    ports = [18741, 18742]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    logs = [home / f"server-{p}.log" for p in ports]
    servers = [start_server(args.sqmy, home, p, log) for p, log in zip(ports, logs, strict=True)]
    total: Counter[str] = Counter()
    try:
        for url, process in zip(urls, servers, strict=True):
            wait_ready(url, process)
        for run in range(args.runs):
            started = time.perf_counter()
            tally = asyncio.run(run_once(urls, args.requests, args.clients, items, args.feedback_share, run))
            seconds = time.perf_counter() - started
            sent = sum(v for k, v in tally.items() if k.startswith(("classify_", "feedback_")))
            print(json.dumps({"run": run + 1, "requests": sent, "5xx": tally["5xx"],
                              "locked_in_responses": tally["locked_in_responses"],
                              "requests_per_s": round(sent / seconds, 1), **dict(sorted(tally.items()))}), flush=True)
            total += tally
    finally:
        for process in servers:
            process.terminate()
            process.wait(timeout=60)
    locked_in_logs = sum(log.read_text(encoding="utf-8", errors="replace").count(LOCKED) for log in logs)
    sent = sum(v for k, v in total.items() if k.startswith(("classify_", "feedback_")))
    print(json.dumps({"total_requests": sent, "runs": args.runs, "clients": args.clients, "5xx": total["5xx"],
                      "database_is_locked": total["locked_in_responses"] + locked_in_logs,
                      "locked_in_responses": total["locked_in_responses"], "locked_in_server_logs": locked_in_logs,
                      **dict(sorted(total.items()))}))
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
