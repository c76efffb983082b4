"""`sqmy prune` on a real SQLite home: old classifications and finished jobs' folders go, feedback stays, the audit
trail only goes when asked."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from datetime import timedelta

from sqlalchemy import insert

from sqmy.app.storage import AuditEvent, Classification, Feedback, Job, make_engine, now
from tests.conftest import SQMY, sqmy_env


def classification(uid: str, age_days: float) -> dict:
    return {"uid": uid, "item_id": uid, "title": "", "text": "路灯坏了", "topic": "城乡建设",
            "topic_path": ["城乡建设"], "topic_confidence": 0.9, "lead_department": None, "result": {},
            "engine": "tfidf", "model_version": "v1", "needs_review": False, "source": "api",
            "created_at": now() - timedelta(days=age_days)}


def seed(home):
    """Old and new rows of every kind, and job folders: old finished, old running, new finished, old orphan."""
    db = make_engine(f"sqlite:///{home / 'sqmy.db'}")
    old = now() - timedelta(days=90)
    with db.begin() as conn:
        conn.execute(insert(Classification), [classification("c-old", 90), classification("c-new", 1)])
        conn.execute(insert(Feedback).values(item_id="c-old", text="路灯坏了", action="accept", editor="王编辑",
                                             created_at=old))
        conn.execute(insert(AuditEvent).values(at=old, actor="王编辑", action="feedback.accept", details={}))
        for job_id, status, age in (("j-old", "succeeded", 90), ("j-running", "running", 90), ("j-new", "failed", 1)):
            conn.execute(insert(Job).values(id=job_id, kind="batch", status=status, params={}, created_by="x",
                                            created_at=now() - timedelta(days=age),
                                            finished_at=None if status == "running" else now() - timedelta(days=age)))
    db.dispose()
    for name in ("j-old", "j-running", "j-new", "j-orphan"):
        folder = home / "jobs" / name
        folder.mkdir(parents=True)
        (folder / "input.csv").write_text("编号,正文\n1,路灯坏了\n", encoding="utf-8")
    ninety_days_ago = old.timestamp()
    os.utime(home / "jobs" / "j-orphan", (ninety_days_ago, ninety_days_ago))


def prune(home, *args, **env):
    done = subprocess.run([SQMY, "prune", *args], env=sqmy_env(home, **env), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def rows(home, query):
    with sqlite3.connect(home / "sqmy.db") as conn:
        return [r[0] for r in conn.execute(query)]


def test_prune_removes_old_classifications_and_finished_jobs_files_but_never_feedback(tmp_path):
    home = tmp_path / "home"
    seed(home)

    dry = prune(home, "--days", "30", "--dry-run")
    assert dry["dry_run"] and dry["classifications"] == 1 and dry["jobs"] == ["j-old", "j-orphan"]
    assert dry["job_files_bytes"] > 0
    assert rows(home, "select uid from classifications order by uid") == ["c-new", "c-old"]  # nothing removed
    assert sorted(p.name for p in (home / "jobs").iterdir()) == ["j-new", "j-old", "j-orphan", "j-running"]

    done = prune(home, SQMY_RETENTION_DAYS="30")
    assert not done["dry_run"] and done["classifications"] == 1 and done["audit_events"] == 0
    assert rows(home, "select uid from classifications") == ["c-new"]
    assert sorted(p.name for p in (home / "jobs").iterdir()) == ["j-new", "j-running"]
    assert rows(home, "select item_id from feedback") == ["c-old"]  # training data is kept
    assert rows(home, "select action from audit_events order by id") == ["feedback.accept", "retention.prune"]
    assert rows(home, "select count(*) from jobs") == [3]  # the jobs' history stays; only their files go

    audit = prune(home, "--audit-days", "30")
    assert audit["audit_events"] == 1 and audit["classifications"] == 0  # no classification retention given
    assert rows(home, "select action from audit_events order by id") == ["retention.prune", "retention.prune"]
    assert rows(home, "select item_id from feedback") == ["c-old"]


def test_prune_without_a_retention_says_how_to_set_one(tmp_path):
    done = subprocess.run([SQMY, "prune"], env=sqmy_env(tmp_path), capture_output=True, timeout=120)
    assert done.returncode == 2
    assert "SQMY_RETENTION_DAYS" in done.stderr.decode()
