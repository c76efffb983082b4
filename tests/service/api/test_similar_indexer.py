"""The similarity index fed by the indexer process, against real servers: a classified item reaches the index with
no lookup in between (the server indexes nothing per request), an indexer that is killed is started again and
indexes what was accepted meanwhile, and two servers on one home run one indexer."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.conftest import Server
from tests.utils.similar import classify_report, reports, similar_server, with_projection

WAIT_S = 120  # a deadline for what a busy test machine does in a second or two, not a measured duration


def indexers(*servers: Server) -> list[psutil.Process]:
    """The servers' child processes holding the index's item store open: the indexer (the servers' own
    processes and the bulk worker do not count)."""
    found = []
    for server in servers:
        for child in psutil.Process(server.process.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if any(f.path.endswith(os.path.join("similar", "items.db")) for f in child.open_files()):
                    found.append(child)
    return found


def eventually(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"never happened: {what}")


def indexed(home: Path, ids: list[str]) -> set[str]:
    """Which of these classification ids the index's store holds (read from the file, no request to a server)."""
    path = home / "similar" / "items.db"
    if not path.is_file():
        return set()
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        marks = ",".join("?" * len(ids))
        return {row[0] for row in conn.execute(f"SELECT id FROM items WHERE id IN ({marks})", ids)}


@pytest.fixture(scope="module")
def indexed_server(tmp_path_factory: pytest.TempPathFactory, trained_home: Path) -> Iterator[Server]:
    srv = similar_server(trained_home, tmp_path_factory.mktemp("indexer-home"))
    yield srv
    srv.stop()


def test_a_classified_item_reaches_the_index_through_the_indexer_process(indexed_server: Server) -> None:
    indexer = eventually(lambda: indexers(indexed_server), "an indexer process started")[0]
    assert indexer.pid != indexed_server.process.pid
    first, second = reports("m002")[:2]
    first = first | {"text": first["text"] + "联系电话13812345678"}
    stored = classify_report(indexed_server, first)["classification_id"]
    eventually(lambda: indexed(indexed_server.home, [stored]), "the item in the index without a lookup")
    with contextlib.closing(sqlite3.connect(indexed_server.home / "similar" / "items.db")) as conn:
        text = conn.execute("SELECT text FROM items WHERE id = ?", (stored,)).fetchone()[0]
    assert "13812345678" not in text and "138****5678" in text  # the index holds what the log holds
    found = httpx.post(f"{indexed_server.url}/v1/similar", json={"title": second["title"], "text": second["text"]},
                       timeout=60).json()["data"]
    assert stored in [f["id"] for f in found]
    same = httpx.post(f"{indexed_server.url}/v1/similar", json={"title": first["title"], "text": first["text"]},
                      timeout=60).json()["data"][0]
    assert (same["id"], same["kind"], same["jaccard"]) == (stored, "duplicate", 1.0)  # the query masked alike


def test_an_indexer_killed_is_started_again_and_indexes_what_came_meanwhile(indexed_server: Server) -> None:
    killed = eventually(lambda: indexers(indexed_server), "an indexer process running")[0].pid
    os.kill(killed, signal.SIGKILL)
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(killed).wait(timeout=30)
    ids = [classify_report(indexed_server, r)["classification_id"] for r in reports("m003")]
    # no lookup: only a new indexer can put them in the store, starting from the watermark the killed one left
    successor = eventually(lambda: [p for p in indexers(indexed_server) if p.pid != killed], "a new indexer")[0]
    assert successor.pid != killed
    eventually(lambda: indexed(indexed_server.home, ids) == set(ids), "every item accepted meanwhile indexed")
    answer = classify_report(indexed_server, reports("m003")[0], similar=5)
    assert ids[0] in [s["id"] for s in answer["similar"]]


def test_two_servers_on_one_home_run_one_indexer(home: Path) -> None:
    first = Server(with_projection(home), SQMY_SIMILAR="on")
    second = Server(home, SQMY_SIMILAR="on")
    try:
        eventually(lambda: indexers(first, second), "an indexer process started")
        a = classify_report(first, reports("m005")[0])["classification_id"]
        b = classify_report(second, reports("m005")[1])["classification_id"]
        eventually(lambda: indexed(home, [a, b]) == {a, b}, "the items of both servers indexed")
        time.sleep(3 * 1.0)  # a few of each server's checks for a running indexer
        assert len(indexers(first, second)) == 1

        owner = first if indexers(first) else second
        other = second if owner is first else first
        owner.stop()  # its indexer stops with it; the other server starts one
        eventually(lambda: indexers(other), "an indexer started by the remaining server")
        c = classify_report(other, reports("m005")[2])["classification_id"]
        eventually(lambda: indexed(home, [c]), "an item indexed by the remaining server's indexer")
        assert len(indexers(other)) == 1
    finally:
        for server in (first, second):
            if server.process.poll() is None:
                server.stop()
