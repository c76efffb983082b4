"""A newcomer's first `make run`, timed: `git clone` → install → first classified item → the ensemble answering,
with wrk at 20 connections across the swap from TF-IDF to the ensemble (every non-2xx counted).

    .venv/bin/python bench/first_run.py [--repo .] [--workdir /tmp/first-run]

Packages come from pip's cache (as on a machine that installed them once); nothing else is reused: a fresh clone,
a fresh SQMY_HOME, the models trained from scratch. Prints one JSON object; the timeline also goes to stderr."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ITEM = {"title": "小区路灯坏了", "text": "我们小区3栋门口的路灯坏了一个多月，晚上出门很不安全，请尽快维修。"}
LUA = """wrk.method = "POST"
wrk.body = '{"text": "我们小区3栋门口的路灯坏了一个多月，晚上出门很不安全，请尽快维修。"}'
wrk.headers["Content-Type"] = "application/json"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(started: float, message: str) -> None:
    print(f"[{time.monotonic() - started:7.1f} s] {message}", file=sys.stderr, flush=True)


def wrk_window(url: str, script: Path, seconds: int) -> dict[str, int]:
    """One wrk run; its request count, non-2xx responses and socket errors."""
    out = subprocess.run(["wrk", "-t2", "-c20", f"-d{seconds}s", "-s", str(script), f"{url}/v1/classify"],
                         capture_output=True, text=True, check=False).stdout
    requests = int(m.group(1)) if (m := re.search(r"(\d+) requests in", out)) else 0
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return {"requests": requests, "non_2xx": non2xx, "socket_errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--limit-minutes", type=float, default=45)
    parser.add_argument("--no-load", action="store_true", help="time the build alone, without wrk across the swap")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sqmy-first-run-"))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    script = work / "post.lua"
    script.write_text(LUA)
    started = time.monotonic()
    subprocess.run(["git", "clone", "-q", str(args.repo), str(work / "sqmy")], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQMY_", "VIRTUAL_ENV"))}
    env |= {"SQMY_HOME": str(work / "home"), "SQMY_PORT": str(port)}
    log = open(work / "make-run.log", "wb")  # noqa: SIM115 (open for the server's lifetime)
    server = subprocess.Popen(["make", "run"], cwd=work / "sqmy", env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    timeline: dict[str, float] = {}
    load = {"requests": 0, "non_2xx": 0, "socket_errors": 0}
    deadline = started + args.limit_minutes * 60
    try:
        while time.monotonic() < deadline and "first_answer_s" not in timeline:
            if "installed_s" not in timeline and (work / "sqmy" / ".venv" / ".installed").exists():
                timeline["installed_s"] = round(time.monotonic() - started, 1)
                say(started, "installed")
            try:
                r = httpx.post(f"{url}/v1/classify", json=ITEM, timeout=10)
                if r.status_code == 200:
                    timeline["first_answer_s"] = round(time.monotonic() - started, 1)
                    say(started, f"first answer, engine {r.json()['engine']}")
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        swapping = False
        while time.monotonic() < deadline:
            ready = httpx.get(f"{url}/readyz", timeout=30).json()
            building = ready.get("building") or []
            if building:
                say(started, building[0]["message"])
            if ready.get("answering") == "ensemble":
                timeline["ensemble_s"] = round(time.monotonic() - started, 1)
                say(started, "the ensemble answers")
                if not args.no_load:
                    window = wrk_window(url, script, 10)  # and a little after the swap
                    load = {k: load[k] + window[k] for k in load}
                break
            percent = building[0].get("percent") if building else None
            swapping = swapping or (percent is not None and percent >= 85) or (not building and bool(load["requests"]))
            if swapping and not args.no_load:  # the export, evaluation and gate: run wrk across the swap
                window = wrk_window(url, script, 15)
                load = {k: load[k] + window[k] for k in load}
            else:
                time.sleep(5)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)
    print(json.dumps({"timeline": timeline, "wrk_across_swap": load, "workdir": str(work)}, indent=1))


if __name__ == "__main__":
    main()
