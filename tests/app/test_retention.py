"""The service's daily prune, on a real SQLite file: it runs on its own once a retention is set, and not without."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import func, insert, select

from sqmy.app.retention import DailyPrune, Retention
from sqmy.app.storage import Classification, Feedback, make_engine, now


def seed(db, age_days):
    with db.begin() as conn:
        conn.execute(insert(Classification).values(
            uid="c-1", item_id="1", title="", text="路灯坏了", topic="城乡建设", topic_path=["城乡建设"],
            topic_confidence=0.9, lead_department=None, result={}, engine="tfidf", model_version="v1",
            needs_review=False, source="api", created_at=now() - timedelta(days=age_days)))
        conn.execute(insert(Feedback).values(item_id="1", text="路灯坏了", action="accept", editor="王编辑",
                                             created_at=now() - timedelta(days=age_days)))


def counts(db):
    with db.connect() as conn:
        return (conn.execute(select(func.count()).select_from(Classification)).scalar(),
                conn.execute(select(func.count()).select_from(Feedback)).scalar())


def test_the_service_prunes_old_classifications_by_itself(tmp_path):
    db = make_engine(f"sqlite:///{tmp_path / 'sqmy.db'}")
    seed(db, 40)
    pruner = DailyPrune(db, tmp_path / "jobs", Retention(classification_days=30), first_delay=0)
    pruner.start()
    try:
        deadline = time.monotonic() + 30
        while counts(db)[0] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pruner.stop()
    assert counts(db) == (0, 1)  # the classification went, the verdict stays


def test_without_a_retention_the_service_never_prunes(tmp_path):
    db = make_engine(f"sqlite:///{tmp_path / 'sqmy.db'}")
    seed(db, 4000)
    pruner = DailyPrune(db, tmp_path / "jobs", Retention(), first_delay=0)
    pruner.start()
    pruner.stop()
    assert pruner._thread.ident is None  # no prune thread was ever started
    assert counts(db) == (1, 1)
