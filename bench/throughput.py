"""Throughput and latency of the TF-IDF path.

Prints: in-process routing items/s (batch 1 and 256, one core), `sqmy batch` items/s on a generated JSONL
file, and /v1/classify vs a no-op endpoint under wrk with 50 connections (req/s, p50, p99).

    .venv/bin/python bench/throughput.py [--items 20000] [--seconds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, SQMY, bench_env, ensure_model, generated_items, write_jsonl

LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[%s]]
"""


def routing_rate(home: Path, items: list[dict[str, str]]) -> dict[str, float]:
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = "1"
    from sqmy.app.policy import RoutingPolicy
    from sqmy.app.routing import Router
    from sqmy.models import ModelRegistry, load_engine
    from sqmy.models.base import Doc

    registry = ModelRegistry(home / "models")
    router = Router({"tfidf": load_engine(registry.path(registry.current("tfidf")))}, RoutingPolicy())
    docs = [Doc(text=i["text"], title=i["title"]) for i in items]
    out = {}
    for batch in (1, 256):
        n, started = 0, time.perf_counter()
        while n < len(docs) and time.perf_counter() - started < 10:
            router.classify(docs[n:n + batch])
            n += batch
        out[f"routing_items_per_s_batch{batch}"] = round(min(n, len(docs)) / (time.perf_counter() - started), 1)
    return out


def batch_rate(home: Path, path: Path) -> dict[str, float]:
    done = subprocess.run([SQMY, "batch", str(path), str(path.with_suffix(".out.jsonl")), "--quiet",
                           "--engine", "tfidf"], env=bench_env(home), capture_output=True, text=True, check=True)
    summary = json.loads(done.stdout)
    return {"sqmy_batch_items": summary["classified"], "sqmy_batch_items_per_s": summary["items_per_second"]}


MANY_LUA = """local bodies = {%s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[(n %% #bodies) + 1])
end
"""


def wrk(url: str, body: str | list[str], seconds: int, connections: int = 50) -> dict[str, float]:
    """wrk's rate, p50 and p99 for ``body`` posted to ``url``; a list of bodies is posted in turn (each wrk
    thread cycles through them)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, encoding="utf-8") as script:
        script.write(LUA % body if isinstance(body, str) else MANY_LUA % ", ".join(f"[[{b}]]" for b in body))
    threads = min(2, connections)  # wrk needs a connection per thread
    done = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name,
                           url],
                          capture_output=True, text=True, check=True)
    text = done.stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", text).groups()
        return round(float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit], 2)

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {"req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
            "p50_ms": ms("50%"), "p99_ms": ms("99%"), "non_2xx": int(non2xx.group(1)) if non2xx else 0}


def http_rates(home: Path, seconds: int) -> dict[str, dict[str, float]]:
    if not shutil.which("wrk"):
        return {"skipped": "wrk not installed (apt-get install wrk)"}
    port = 18765
    server = subprocess.Popen([SQMY, "serve", "--port", str(port)],
                              env=bench_env(home, SQMY_ENABLE_NOOP="1", SQMY_DATABASE_URL=f"sqlite:///{home}/b.db"))
    try:
        import httpx

        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        item = generated_items(1, seed=7)[0]
        body = json.dumps({"title": item["title"], "text": item["text"]}, ensure_ascii=False)
        base = f"http://127.0.0.1:{port}"
        wrk(f"{base}/v1/classify", body, 3)  # warm-up
        noop = wrk(f"{base}/v1/noop", "{}", seconds)
        classify = wrk(f"{base}/v1/classify", body, seconds)
        return {"noop": noop, "classify": classify,
                "ratio_req_per_s": round(classify["req_per_s"] / noop["req_per_s"], 3),
                "ratio_p99": round(classify["p99_ms"] / noop["p99_ms"], 3)}
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=15)
    args = parser.parse_args()
    home = OUT / "home"
    ensure_model(home)
    items = generated_items(args.items)
    path = write_jsonl(OUT / "generated.jsonl", items)
    result = {"items": len(items), "chars_per_item": 300, "cpu_count": os.cpu_count()}
    result |= batch_rate(home, path)
    result["http_50_connections"] = http_rates(home, args.seconds)
    result |= routing_rate(home, items)
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
