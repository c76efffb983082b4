"""Memory under hostile input (#15, items 2 and 3).

The server (auth on, default limits): its RSS growth (sampled every 5 ms) while clients send 200 MB — a JSON body
without a key (declared by Content-Length, and chunked), a 200 MB upload without a key, and with an editor key a
chunked 200 MB JSON body to /v1/classify/batch (cut off at its limit). A batch worker (``sqmy batch``, as a job
runs it): its peak RSS on a decompression-bomb XLSX (a 200 MB shared string in ~200 KB) and on an XLSX of
``--rows`` short rows.

    .venv/bin/python bench/hardening_memory.py [--home DIR] [--rows 1000000] [--checks-only] [--skip-server]

``--home`` needs a TF-IDF model (trained from corpora/ when missing: minutes). Also: the worker's peak on a 100-row
XLSX (the model's share), and what an XLSX shared-string table of ``SQMY_MAX_XLSX_STRINGS_MB`` adds to a reader.
``--rows 0`` skips the big file, ``--skip-server`` the server cases.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, SQMY, bench_env, ensure_model
from sqmy.app.archive.limits import ArchiveLimits, check_archive, check_xlsx
from tests.utils.raw_xlsx import bomb_xlsx, many_rows_xlsx, write_xlsx_parts

MB = 1 << 20
BODY = 200 * MB


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(home: Path) -> Iterator[tuple[int, psutil.Process]]:
    port = _free_port()
    process = subprocess.Popen([SQMY, "serve"], env=bench_env(home, SQMY_PORT=str(port), SQMY_AUTH="on"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield port, psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)


class PeakRss:
    """The highest RSS of a process while the block runs, sampled every 5 ms."""

    def __init__(self, process: psutil.Process) -> None:
        self.process, self.peak, self._stop = process, 0, threading.Event()

    def __enter__(self) -> PeakRss:
        self.start = self.peak = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *_exc: object) -> None:
        time.sleep(0.5)  # what the server does after the answer counts too
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / MB


def send(port: int, head: str, body: Iterator[bytes]) -> tuple[str, float]:
    """Send the request head, then the body block by block until the server answers; its status line and the MB
    of body sent by then (the server closes the connection: it does not read the rest)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    sock.sendall(head.encode())
    sent = 0
    try:
        for block in body:
            if select.select([sock], [], [], 0)[0]:
                break
            sock.sendall(block)
            sent += len(block)
        answer = sock.recv(4096).decode("utf-8", "replace")
    except OSError as exc:
        answer = f"connection closed ({type(exc).__name__})"
    finally:
        sock.close()
    return answer.split("\r\n", 1)[0], sent / MB


def blocks(size: int, chunked: bool, prefix: bytes = b"") -> Iterator[bytes]:
    block = b" " * MB
    yield (b"%x\r\n%s\r\n" % (len(prefix), prefix)) if chunked and prefix else prefix
    for _ in range(size // MB):
        yield b"%x\r\n%s\r\n" % (MB, block) if chunked else block
    if chunked:
        yield b"0\r\n\r\n"


def _head(path: str, content_type: str, *extra: str) -> str:
    return "\r\n".join([f"POST {path} HTTP/1.1", "Host: bench", f"Content-Type: {content_type}", *extra, "", ""])


def server_cases(home: Path) -> list[dict[str, object]]:
    key = json.loads(subprocess.run([SQMY, "keys", "create", "--role", "editor", "--name", "bench"],
                                    env=bench_env(home), capture_output=True, check=True).stdout)["key"]
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
    cases = [
        ("200 MB JSON, no key, Content-Length", _head("/v1/classify", "application/json", f"Content-Length: {BODY}"),
         False, b""),
        ("200 MB JSON, no key, chunked", _head("/v1/classify", "application/json", "Transfer-Encoding: chunked"),
         True, b""),
        ("200 MB upload, no key, Content-Length",
         _head("/v1/batch-jobs", "multipart/form-data; boundary=b", f"Content-Length: {BODY + len(part)}"),
         False, part),
        ("200 MB JSON, editor key, chunked, /v1/classify/batch",
         _head("/v1/classify/batch", "application/json", "Transfer-Encoding: chunked",
               f"Authorization: Bearer {key}"), True, b'{"items": ['),
    ]
    rows = []
    with server(home) as (port, process):
        for name, head, chunked, prefix in cases:
            with PeakRss(process) as rss:
                status, sent = send(port, head, blocks(BODY, chunked, prefix))
            rows.append({"case": name, "answer": status, "body_sent_mb": round(sent, 1),
                         "server_rss_mb": round(rss.start / MB), "growth_mb": round(rss.growth_mb, 1)})
            print(rows[-1], flush=True)
    return rows


def check_seconds(archive: Path) -> dict[str, float]:
    """How long the checks before reading take (in this process): all of them (with the row count), and the zip
    and cell checks of an XLSX alone."""
    started = time.perf_counter()
    with suppress(ValueError):
        check_archive(archive, ArchiveLimits())
    middle = time.perf_counter()
    with suppress(ValueError):
        check_xlsx(archive, ArchiveLimits())
    return {"check_seconds": round(middle - started, 2), "xlsx_check_seconds": round(time.perf_counter() - middle, 2)}


READER_GROWTH = """
import sys, psutil
from openpyxl import load_workbook
before = psutil.Process().memory_info().rss
workbook = load_workbook(sys.argv[1], read_only=True, data_only=True)
print((psutil.Process().memory_info().rss - before) / 2**20)
"""


def strings_table_xlsx(path: Path, table_mb: int) -> Path:
    """An XLSX whose shared-string table is about ``table_mb`` MB of distinct 300-character Chinese texts."""
    rng = random.Random(0)
    alphabet = "路灯噪音停车物业垃圾漏水学校医院小区道路社区居民反映投诉建议希望尽快处理解决问题情况部门相关"
    texts = ["".join(rng.choice(alphabet) for _ in range(300)) for _ in range(2000)]
    n = table_mb * MB // 920  # 300 characters of 3 bytes, the row's own number, <si><t></t></si>
    return write_xlsx_parts(path, ["编号", "留言详情"], ([f"r{i}", i] for i in range(n)),
                            shared=([texts[i % len(texts)], str(i)] for i in range(n)))


def reader_growth(archive: Path) -> dict[str, object]:
    """What opening the XLSX (read-only, as ``sqmy batch`` does) adds to a process's RSS: the shared strings."""
    done = subprocess.run([sys.executable, "-c", READER_GROWTH, str(archive)], capture_output=True, text=True,
                          check=True)
    table = zipfile.ZipFile(archive).getinfo("xl/sharedStrings.xml").file_size
    return {"archive": archive.name, "strings_table_mb": round(table / MB),
            "reader_growth_mb": round(float(done.stdout))}


def worker_peak(home: Path, archive: Path, out: Path) -> dict[str, object]:
    """``sqmy batch`` as a batch job runs it: exit code, seconds, peak RSS (and the seconds of its checks)."""
    checks = check_seconds(archive)["check_seconds"]
    started = time.perf_counter()
    process = subprocess.Popen([SQMY, "batch", str(archive), str(out), "--engine", "tfidf", "--quiet"],
                               env=bench_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    message = process.stderr.read().decode().strip().splitlines()
    _, status, usage = os.wait4(process.pid, 0)
    return {"archive": archive.name, "size_mb": round(archive.stat().st_size / MB, 2),
            "exit": os.waitstatus_to_exitcode(status), "seconds": round(time.perf_counter() - started, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "check_seconds": checks,
            "message": message[-1] if message else ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=OUT / "hardening-home")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--checks-only", action="store_true", help="only time the checks before reading")
    parser.add_argument("--skip-server", action="store_true")
    args = parser.parse_args()
    ensure_model(args.home)
    results: dict[str, object] = {}
    if not (args.checks_only or args.skip_server):
        results["server"] = server_cases(args.home)
    with tempfile.TemporaryDirectory(dir=args.home) as scratch:
        work = Path(scratch)
        archives = [many_rows_xlsx(work / "rows-100.xlsx", 100), bomb_xlsx(work / "bomb.xlsx")]
        if args.rows:
            archives.append(many_rows_xlsx(work / f"rows-{args.rows}.xlsx", args.rows))
        workers: list[dict[str, object]] = []
        for archive in archives:
            if args.checks_only:
                workers.append({"archive": archive.name} | check_seconds(archive))
            else:
                workers.append(worker_peak(args.home, archive, work / f"{archive.stem}-result.csv"))
            print(workers[-1], flush=True)
        if not args.checks_only:
            workers.append(reader_growth(strings_table_xlsx(work / "strings.xlsx", ArchiveLimits().max_strings_mb)))
            print(workers[-1], flush=True)
        results["batch_worker"] = workers
    print(json.dumps(results, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
