"""The same journeys with PostgreSQL as the database (skipped where no PostgreSQL server is installed)."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from tests.conftest import Server
from tests.service.api.test_retraining import call, wait_for_job


def test_feedback_keys_and_retraining_on_postgres(home, tiny_corpus_dir, postgres_url):
    srv = Server(home, SQMY_DATABASE_URL=postgres_url, SQMY_CORPUS_DIR=str(tiny_corpus_dir), SQMY_AUTH="on")
    try:
        assert call(srv, "GET", "/v1/whoami").status_code == 401
        import subprocess

        from tests.conftest import SQMY, sqmy_env

        created = subprocess.run([SQMY, "keys", "create", "--role", "trainer", "--name", "训练员"],
                                 env=sqmy_env(home, SQMY_DATABASE_URL=postgres_url), capture_output=True, timeout=60)
        assert created.returncode == 0, created.stderr.decode()
        import json

        key = json.loads(created.stdout)["key"]
        suggestion = call(srv, "POST", "/v1/classify", key, json={"id": "pg-1", "text": "出租车拒载还不打表"}).json()
        verdict = {"classification_id": suggestion["classification_id"], "topic": "交通运输"}
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "pg-retry-1"}
        fixed = httpx.post(f"{srv.url}/v1/feedback", json=verdict, headers=headers, timeout=60)
        assert fixed.status_code == 201, fixed.text
        again = httpx.post(f"{srv.url}/v1/feedback", json=verdict, headers=headers, timeout=60)  # a client's retry
        assert again.json() == fixed.json() and again.headers["Idempotency-Replayed"] == "true"
        queue = call(srv, "GET", "/v1/items?q=拒载&topic=交通运输&status=corrected", key).json()  # LIKE, JSON path
        assert [(i["item_id"], i["decided_by"]) for i in queue["data"]] == [("pg-1", "训练员")]
        assert call(srv, "GET", "/v1/items?q=地铁", key).json()["total"] == 0
        job = call(srv, "POST", "/v1/models/retrain", key, json={"engine": "tfidf", "promote": "force"}).json()
        done = wait_for_job(srv, job["id"], key)
        assert done["status"] == "succeeded", done["error"]
        assert done["result"]["corrections"] == 1
    finally:
        srv.stop()
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select item_id, editor from feedback")).all() == [("pg-1", "训练员")]  # once
        actions = {r[0] for r in conn.execute(sa.text("select action from audit_events"))}
        assert {"key.create", "feedback.correct", "model.retrain"} <= actions
        assert conn.execute(sa.text("select count(*) from classifications")).scalar() >= 1
    engine.dispose()
