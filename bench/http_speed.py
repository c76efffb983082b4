"""The HTTP rows of issue #18 in one run, on one server, each beside its reference:

- ``POST /v1/noop`` (the framework's limit: same app, same middleware) and ``POST /v1/classify`` with
  ``engine: tfidf``, wrk at 50 connections: req/s, p50, p99, and the ratios classify/noop;
- ``POST /v1/classify`` with ``engine: auto`` (the ensemble when the home has a BERT model) at 1 and at 50
  connections;
- the same ``auto`` rows with each request a different item of the taxonomy probe (``bench/probe``, 633 items in
  turn): with the cascade, what share of items skips BERT depends on the item, so one fixed item says little;
- ``sqmy batch --engine auto`` items/s on ``--batch-items`` generated items (a separate process, after the server
  stopped), and on the probe's items;
- the server's peak RSS over the whole run;
- what a maximal batch body (256 × 20,000 characters) costs before any model runs: JSON parsing and validation.

    .venv/bin/python bench/http_speed.py --home H [--seconds 15]

``H`` is an SQMY_HOME with a promoted TF-IDF model and, for the ``auto`` rows to mean the ensemble, a BERT model
(``sqmy train --engine tfidf``, then ``sqmy train --engine bert --promote``). The body is one 12345-style item of
about 60 characters (the issue's request).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, SQMY, bench_env, generated_items, write_jsonl
from bench.throughput import wrk

ITEM = {"title": "小区路灯坏了",
        "text": "我们小区3栋门口的路灯坏了一个多月，晚上出门很不安全，老人孩子经常摔倒，请有关部门尽快维修。"}


EXTRA: dict[str, str] = {}  # --env settings for the server and `sqmy batch` (e.g. SQMY_CASCADE_THRESHOLD=1)
PROBE = REPO / "bench" / "probe" / "taxonomy-probe.jsonl"


def body(engine: str, item: dict[str, str] = ITEM) -> str:
    return json.dumps(item | {"engine": engine}, ensure_ascii=False).replace("]]", "] ]")


def probe_items() -> list[dict[str, str]]:
    rows = [json.loads(line) for line in PROBE.open(encoding="utf-8") if line.strip()]
    return [{"id": r["id"], "title": r.get("title") or "", "text": r["text"]} for r in rows]


def served_by(base: str, items: list[dict[str, str]]) -> dict[str, object]:
    """How ``auto`` answered ``items``: the share answered by TF-IDF alone (a model version without "+")."""
    answers = [httpx.post(f"{base}/v1/classify", json={"title": i["title"], "text": i["text"]}, timeout=60).json()
               for i in items]
    return {"engine": sorted({a["engine"] for a in answers}),
            "skipped_bert_share": round(sum("+" not in a["model_version"] for a in answers) / len(answers), 4)}


def start_server(home: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([SQMY, "serve", "--port", str(port)],
                              env=bench_env(home, SQMY_ENABLE_NOOP="1", SQMY_DATABASE_URL=f"sqlite:///{home}/speed.db",
                                            **env))
    promoted = set(json.loads((home / "models" / "current.json").read_text()))
    wanted = {"tfidf", "ensemble"} if "bert" in promoted else {"tfidf"}
    for _ in range(1500):  # ready, and every promoted model loaded: a BERT load in the background would be measured
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            if ready.status_code == 200 and wanted <= set(ready.json().get("engines", {})):
                time.sleep(2)  # the similarity index finishes opening
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not become ready")


def sample_rss(pid: int, stop: threading.Event, peak: list[float]) -> None:
    """``peak[0]``: the serving process's peak RSS; ``peak[1]``: the peak of its children's RSS together (the
    bulk worker, the similarity indexer, the log writer)."""
    process = psutil.Process(pid)
    while not stop.is_set():
        peak[0] = max(peak[0], process.memory_info().rss / 2**20)
        children = 0.0
        for child in process.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                children += child.memory_info().rss / 2**20
        peak[1] = max(peak[1], children)
        time.sleep(0.2)


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """CPU seconds (user + system) of the server and (unless ``children`` is false) its children so far: the
    bulk worker, the similarity indexer."""
    process = psutil.Process(pid)
    total = 0.0
    for p in [process, *(process.children(recursive=True) if children else [])]:
        times = p.cpu_times()
        total += times.user + times.system
    return total


def measured(pid: int, url: str, payload: str, seconds: int, connections: int = 50) -> dict[str, float]:
    """wrk's figures plus the server's CPU milliseconds per request (the machine is shared: this is what a
    request costs whatever else runs) and the 1-minute load average at the end."""
    before, before_alone = cpu_seconds(pid), cpu_seconds(pid, children=False)
    out = wrk(url, payload, seconds, connections=connections)
    requests = max(out["req_per_s"] * seconds, 1)
    return out | {"server_cpu_ms_per_req": round((cpu_seconds(pid) - before) * 1000 / requests, 2),
                  "serving_process_cpu_ms_per_req": round(
                      (cpu_seconds(pid, children=False) - before_alone) * 1000 / requests, 2),
                  "load_avg_1min": round(psutil.getloadavg()[0], 2)}


def http_rows(home: Path, seconds: int, env: dict[str, str], tfidf_only: bool, port: int = 18791) -> dict[str, object]:
    server = start_server(home, port, **env)
    base = f"http://127.0.0.1:{port}"
    stop, peak = threading.Event(), [0.0, 0.0]
    sampler = threading.Thread(target=sample_rss, args=(server.pid, stop, peak), daemon=True)
    sampler.start()
    try:
        answering = httpx.post(f"{base}/v1/classify", json=ITEM, timeout=30).json()["engine"]
        wrk(f"{base}/v1/classify", body("tfidf"), 3)  # warm-up
        wrk(f"{base}/v1/classify", body("auto"), 3)
        noop = measured(server.pid, f"{base}/v1/noop", "{}", seconds)
        tfidf = measured(server.pid, f"{base}/v1/classify", body("tfidf"), seconds)
        noop_again = measured(server.pid, f"{base}/v1/noop", "{}", seconds)  # the machine may have changed
        auto_rows: dict[str, object] = {}
        if not tfidf_only:
            probe = [body("auto", {"title": i["title"], "text": i["text"]}) for i in probe_items()]
            auto_rows = {
                "auto_1": measured(server.pid, f"{base}/v1/classify", body("auto"), seconds, 1),
                "auto_50": measured(server.pid, f"{base}/v1/classify", body("auto"), seconds),
                "auto_probe_items_1": measured(server.pid, f"{base}/v1/classify", probe, seconds, 1),
                "auto_probe_items_50": measured(server.pid, f"{base}/v1/classify", probe, seconds),
                "auto_fixed_item": served_by(base, [ITEM]),
                "auto_probe_items": served_by(base, probe_items()[:200])}
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=60)
    noop_rate = (noop["req_per_s"] + noop_again["req_per_s"]) / 2
    return {"auto_answers_with": answering, "noop_50": noop, "tfidf_50": tfidf, "noop_50_again": noop_again,
            "tfidf_vs_noop": {"req_per_s": round(tfidf["req_per_s"] / noop_rate, 3),
                              "p99": round(tfidf["p99_ms"] / noop["p99_ms"], 2)},
            **auto_rows, "server_peak_rss_mb": round(peak[0]), "children_peak_rss_mb": round(peak[1])}


def batch_auto(home: Path, n: int, items: list[dict[str, str]] | None = None) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="sqmy-speed-"))
    try:
        src = write_jsonl(work / "in.jsonl", items if items is not None else generated_items(n, chars=300, seed=3))
        started = time.perf_counter()
        done = subprocess.run([SQMY, "batch", str(src), str(work / "out.jsonl"), "--engine", "auto", "--quiet"],
                              env=bench_env(home, **EXTRA), capture_output=True, text=True, check=True)
        wall = time.perf_counter() - started
        summary = json.loads(done.stdout)
        rows = [json.loads(line) for line in (work / "out.jsonl").open(encoding="utf-8") if line.strip()]
        versions = [r.get("model_version", "") for r in rows if r.get("model_version")]
        return {"skipped_bert_share": round(sum("+" not in v for v in versions) / max(len(versions), 1), 4),
                "items": summary["classified"], "wall_s": round(wall, 1),
                "items_per_s_whole_command": round(summary["classified"] / wall, 1),
                "engine": summary.get("engine"), "summary_items_per_s": summary.get("items_per_second")}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def maximal_body_cost() -> dict[str, float]:
    """What a maximal ``/v1/classify/batch`` body (256 × 20,000 characters) costs the event loop before any model
    runs: JSON parsing and request validation (best of 3, ms)."""
    from sqmy.service.schemas import BatchClassifyRequest

    items = [{"title": f"标题{i}", "text": row["text"]} for i, row in enumerate(generated_items(256, chars=20_000))]
    raw = json.dumps({"items": items}, ensure_ascii=False).encode()
    parse, validate = [], []
    for _ in range(3):
        started = time.perf_counter()
        data = json.loads(raw)
        parse.append(time.perf_counter() - started)
        started = time.perf_counter()
        BatchClassifyRequest.model_validate(data)
        validate.append(time.perf_counter() - started)
    return {"body_mb": round(len(raw) / 2**20, 1), "json_parse_ms": round(min(parse) * 1000, 1),
            "validation_ms": round(min(validate) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--batch-items", type=int, default=1000)
    parser.add_argument("--env", action="append", default=[], metavar="SQMY_X=V",
                        help="a setting for the server and sqmy batch, e.g. SQMY_FACTS=false (repeatable)")
    parser.add_argument("--port", type=int, default=18791,
                        help="the server's port (another bench on the same machine may hold the default)")
    parser.add_argument("--tfidf-only", action="store_true",
                        help="only the no-op and TF-IDF rows (no auto rows, no sqmy batch, no body cost)")
    args = parser.parse_args()
    EXTRA.update(item.split("=", 1) for item in args.env)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    out = {"env": EXTRA, "cpu_count": psutil.cpu_count(),
           "load_average_before": [round(x, 2) for x in psutil.getloadavg()]}
    out["http"] = http_rows(args.home, args.seconds, EXTRA, args.tfidf_only, args.port)
    if not args.tfidf_only:
        out["sqmy_batch_auto"] = batch_auto(args.home, args.batch_items)
        out["sqmy_batch_auto_probe_items"] = batch_auto(args.home, 0, probe_items())
        out["maximal_batch_body"] = maximal_body_cost()
    out["load_average_after"] = [round(x, 2) for x in psutil.getloadavg()]
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
