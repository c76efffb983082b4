"""The database under two writers: a verdict and its audit entry commit together, and a write waits out another
process's lock instead of failing with "database is locked" (real SQLite files)."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import text

from sqmy.app import storage
from sqmy.app.feedback import FeedbackError, record_feedback, record_feedback_once
from sqmy.app.storage import make_engine, transaction

VERDICT = {"text": "小区物业不修电梯，物业费还涨价", "topic": "城乡建设/住房保障与房地产",
           "departments": [{"name": "住建局", "role": "lead"}]}


@pytest.fixture
def db_file(tmp_path):
    return tmp_path / "sqmy.db"


def count(db_file, table):
    with sqlite3.connect(db_file) as conn:
        return conn.execute(f"select count(*) from {table}").fetchone()[0]


def test_a_verdict_whose_audit_entry_fails_is_not_stored(db_file, labels):
    db = make_engine(f"sqlite:///{db_file}")
    with sqlite3.connect(db_file) as conn:  # the audit insert will fail after the feedback insert succeeded
        conn.execute("create trigger no_audit before insert on audit_events begin select raise(abort, 'full'); end")
    with pytest.raises(Exception, match="full"):
        record_feedback(db, labels, dict(VERDICT), "王编辑")
    assert count(db_file, "feedback") == 0
    with sqlite3.connect(db_file) as conn:
        conn.execute("drop trigger no_audit")
    record_feedback(db, labels, dict(VERDICT), "王编辑")
    assert count(db_file, "feedback") == 1 and count(db_file, "audit_events") == 1


def test_the_same_idempotency_key_stores_once_and_returns_the_first_answer(db_file, labels):
    db = make_engine(f"sqlite:///{db_file}")
    first, replayed = record_feedback_once(db, labels, dict(VERDICT), "王编辑", "key-1")
    again, replayed_again = record_feedback_once(db, labels, dict(VERDICT), "王编辑", "key-1")
    assert (replayed, replayed_again) == (False, True)
    assert again == first
    assert count(db_file, "feedback") == 1 and count(db_file, "audit_events") == 1
    other, _ = record_feedback_once(db, labels, dict(VERDICT, note="复核后确认"), "李编辑", "key-1")  # per caller
    assert other["id"] != first["id"]
    with pytest.raises(FeedbackError, match="Idempotency-Key") as raised:
        record_feedback_once(db, labels, dict(VERDICT, topic="交通运输"), "王编辑", "key-1")
    assert raised.value.field == "Idempotency-Key"
    assert count(db_file, "feedback") == 2


def test_a_write_outwaits_a_lock_held_past_the_busy_timeout(db_file, labels, monkeypatch):
    monkeypatch.setattr(storage, "BUSY_TIMEOUT_MS", 50)  # SQLite gives up after 50 ms, the lock is held 400 ms
    db = make_engine(f"sqlite:///{db_file}")
    other = sqlite3.connect(db_file, isolation_level=None, check_same_thread=False)
    other.execute("begin immediate")
    other.execute("insert into audit_events (at, actor, action, target, details) "
                  "values ('2026-01-01', 'other', 'x', '', '{}')")
    release = threading.Timer(0.4, other.execute, args=("commit",))
    release.start()
    try:
        stored = record_feedback(db, labels, dict(VERDICT), "王编辑")  # retried, not "database is locked"
    finally:
        release.join()
        other.close()
    assert stored["id"] == 1
    assert count(db_file, "feedback") == 1 and count(db_file, "audit_events") == 2


def test_reads_do_not_take_the_write_lock(db_file):
    db = make_engine(f"sqlite:///{db_file}")
    with transaction(db) as writer:
        writer.execute(text("insert into audit_events (at, actor, action, target, details) "
                            "values ('2026-01-01', 'a', 'x', '', '{}')"))
        with db.connect() as reader:  # a reader is not blocked by the open write transaction (WAL)
            assert reader.execute(text("select count(*) from audit_events")).scalar() == 0
    assert count(db_file, "audit_events") == 1
