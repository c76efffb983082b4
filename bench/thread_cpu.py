"""CPU per request of each thread of a running server and of its children, over one wrk run (Linux ``/proc``).

    .venv/bin/python bench/thread_cpu.py --pid PID --url http://127.0.0.1:PORT/v1/classify --body '{"text": "…"}'

The threads are named by their ids; ``py-spy dump --pid PID`` tells which is which (the event loop is the main
thread, whose id is the pid). On a shared machine this survives contention better than req/s does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.throughput import wrk

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(stat_path: str) -> float:
    """User + system seconds from a ``/proc/…/stat`` file."""
    text = Path(stat_path).read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def snapshot(pid: int) -> tuple[dict[str, float], dict[str, float]]:
    """CPU seconds of each thread of ``pid`` and of each of its children."""
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            threads[tid] = cpu_seconds(f"/proc/{pid}/task/{tid}/stat")
    children = {}
    for tid in threads:  # a child is listed under the thread that started it
        with contextlib.suppress(OSError):
            for child in Path(f"/proc/{pid}/task/{tid}/children").read_text().split():
                children[child] = cpu_seconds(f"/proc/{child}/stat")
    return threads, children


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    threads_before, children_before = snapshot(args.pid)
    out = wrk(args.url, args.body, args.seconds, connections=args.connections)
    threads_after, children_after = snapshot(args.pid)
    requests = max(out["req_per_s"] * args.seconds, 1)

    def per_request(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
        """Per thread (or child) that ran: one started during the run counts from zero."""
        return {key: round((after[key] - before.get(key, 0.0)) * 1000 / requests, 3) for key in after
                if after[key] - before.get(key, 0.0) > 0}

    threads = per_request(threads_after, threads_before)
    print({"wrk": out, "load_avg_1min": round(os.getloadavg()[0], 2), "thread_cpu_ms_per_req": threads,
           "serving_process_cpu_ms_per_req": round(sum(threads.values()), 3),
           "children_cpu_ms_per_req": per_request(children_after, children_before)})


if __name__ == "__main__":
    main()
