"""kill -9 of a real server: every acknowledged verdict (with its audit entry) and every classification answered
by an idle server is in the SQLite file afterwards."""

from __future__ import annotations

import signal
import sqlite3
import threading

import httpx

from tests.conftest import Server

TOPICS = ["交通运输", "劳动和社会保障", "城乡建设/住房保障与房地产", "教育文体"]


def post_verdicts(url: str, writer: int, acknowledged: list[dict], enough: threading.Event) -> None:
    """Post verdicts one after another until the server dies; keep each acknowledged one."""
    with httpx.Client(timeout=30) as client:
        for n in range(200):
            verdict = {"item_id": f"k-{writer}-{n}", "text": f"第{writer}组第{n}条：公交车晚点严重", "editor": "王编辑",
                       "topic": TOPICS[n % len(TOPICS)]}
            try:
                response = client.post(f"{url}/v1/feedback", json=verdict)
            except httpx.TransportError:
                return  # the server is gone: this one was never acknowledged
            if response.status_code == 201:
                acknowledged.append(response.json())
                if len(acknowledged) >= 24:
                    enough.set()


def test_every_acknowledged_verdict_survives_kill_9(home):
    srv = Server(home)
    acknowledged: list[dict] = []
    enough = threading.Event()
    writers = [threading.Thread(target=post_verdicts, args=(srv.url, w, acknowledged, enough)) for w in range(4)]
    for thread in writers:
        thread.start()
    try:
        assert enough.wait(120), "the server acknowledged too few verdicts"
    finally:
        srv.process.send_signal(signal.SIGKILL)  # while the four writers are still posting
        srv.process.wait(timeout=30)
        for thread in writers:
            thread.join(timeout=60)
    with sqlite3.connect(home / "sqmy.db") as conn:
        stored = dict(conn.execute("select id, item_id from feedback").fetchall())
        audited = {r[0] for r in conn.execute("select target from audit_events where action = 'feedback.correct'")}
    assert len(acknowledged) >= 24
    assert all(stored.get(v["id"]) == v["item_id"] for v in acknowledged)
    assert {v["item_id"] for v in acknowledged} <= audited
    assert set(stored.values()) == audited  # no verdict without its audit entry, and none the other way round


def test_a_classification_answered_by_an_idle_server_survives_kill_9(home):
    srv = Server(home)
    try:
        answer = httpx.post(f"{srv.url}/v1/classify", json={"id": "k-1", "text": "出租车拒载还不打表"}, timeout=30)
        assert answer.status_code == 200
    finally:
        srv.process.send_signal(signal.SIGKILL)  # at once: no time for a write behind the answer
        srv.process.wait(timeout=30)
    with sqlite3.connect(home / "sqmy.db") as conn:
        uids = [r[0] for r in conn.execute("select uid from classifications")]
    assert uids == [answer.json()["classification_id"]]
