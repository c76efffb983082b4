"""A big /v1/classify/batch through the bulk lane (SQMY_BULK_WORKERS) against real servers: the same answers and
the same stored rows as in the serving process, and the worker gone when the service stops."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import httpx
import psutil

from tests.conftest import Server

PHONE = "13812345678"
ITEMS = [{**({"id": f"b{n}"} if n % 3 else {}), "title": "小区问题" if n % 2 else "",
          "text": f"青溪市白沙镇幸福村第{n}组的路灯坏了一个多月，晚上出门很不安全，请尽快维修，联系电话{PHONE}。" * 4}
         for n in range(12)]


def stored(home: Path) -> list[tuple[str, str, str, str]]:
    """The stored rows of ITEMS (item id, item key, title, text), once the log writer has written them all."""
    rows: list[tuple[str, str, str, str]] = []
    for _ in range(200):
        with sqlite3.connect(home / "sqmy.db") as conn:
            rows = conn.execute("select item_id, item_key, title, text from classifications order by rowid").fetchall()
        if len(rows) == len(ITEMS):
            break
        time.sleep(0.05)
    return rows


def classify_on(home: Path, workers: str) -> tuple[list[dict[str, object]], list[tuple[str, str, str, str]], bool]:
    """The answers and stored rows of ITEMS from a server with ``workers`` bulk workers, and whether its bulk
    workers were gone once it stopped."""
    server = Server(home, SQMY_BULK_WORKERS=workers, SQMY_BULK_CHARS="500")
    for _ in range(600):  # the log writer process named itself (it started): not taken for a bulk worker below
        if any(helper(c) for c in psutil.Process(server.process.pid).children(recursive=True)
               if "resource_tracker" not in " ".join(c.cmdline())):
            break
        time.sleep(0.1)
    children: list[psutil.Process] = []
    workers_seen: list[psutil.Process] = []
    try:
        r = httpx.post(f"{server.url}/v1/classify/batch", json={"items": ITEMS}, timeout=120)
        assert r.status_code == 200
        children = psutil.Process(server.process.pid).children(recursive=True)
        workers_seen = [c for c in children if not helper(c)]
        answers = [{k: v for k, v in row.items() if k != "classification_id"} for row in r.json()["data"]]
        rows = stored(home)
    finally:
        server.stop()
    _, alive = psutil.wait_procs(children, timeout=20)  # the worker exits after its last chunk, not at once
    gone = not [c for c in alive if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert bool(workers_seen) == (workers != "0")
    return answers, rows, gone


def helper(process: psutil.Process) -> bool:
    """Not a bulk worker: the classification log's writer (it names itself) or multiprocessing's resource
    tracker."""
    try:
        return process.name() == "sqmy-log-writer" or "resource_tracker" in " ".join(process.cmdline())
    except psutil.Error:
        return True


def test_a_big_batch_answers_and_stores_the_same_through_the_bulk_worker(tmp_path: Path, trained_home: Path) -> None:
    homes = [tmp_path / "lane", tmp_path / "in-process"]
    for home in homes:
        shutil.copytree(trained_home, home)
    in_worker, rows_worker, gone = classify_on(homes[0], "1")
    in_process, rows_process, _ = classify_on(homes[1], "0")
    assert in_worker == in_process
    assert [row["id"] for row in in_worker] == [item.get("id") for item in ITEMS]
    assert rows_worker[0][1].startswith("t-")  # no id: the item key is the digest of its text
    assert any(f["kind"] == "phone" for f in in_worker[0]["facts"])  # type: ignore[union-attr]
    assert rows_worker == rows_process and len(rows_worker) == len(ITEMS)
    assert all(PHONE not in text and "138****5678" in text for *_, text in rows_worker)  # masked in the worker
    assert gone


def test_the_helper_processes_of_a_killed_server_leave(tmp_path: Path, trained_home: Path) -> None:
    """kill -9 of the server (an OOM kill, a crash): its bulk worker, log writer and indexer do not stay behind with
    the models in memory."""
    home = tmp_path / "home"
    shutil.copytree(trained_home, home)
    server = Server(home, SQMY_BULK_WORKERS="1", SQMY_BULK_CHARS="500")
    try:
        r = httpx.post(f"{server.url}/v1/classify/batch", json={"items": ITEMS}, timeout=120)
        assert r.status_code == 200
        children = [c for c in psutil.Process(server.process.pid).children(recursive=True)
                    if "resource_tracker" not in " ".join(c.cmdline())]
        assert any(c.name() == "sqmy-bulk" for c in children)
    finally:
        server.process.kill()
        server.process.wait()
    _, alive = psutil.wait_procs(children, timeout=60)
    assert not [c for c in alive if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
