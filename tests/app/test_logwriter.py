"""The classification log committed by a writer process: rows reach the database through it, a barrier still
means committed, and a writer that dies loses no row (the batch is written in process, another writer starts)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from sqmy.app.logwriter import LogWriter
from sqmy.app.storage import Classification, ClassificationLog, make_engine, new_classification_id, row_builders


def rows(n: int, tag: str) -> list[Any]:
    items = [{"id": f"{tag}-{i}", "title": "", "text": f"第{i}条：路灯坏了，电话13812345678"} for i in range(n)]
    results = [{"classification_id": new_classification_id(), "topic": "城乡建设", "topic_path": ["城乡建设"],
                "topic_confidence": 0.9, "departments": [], "engine": "tfidf", "model_version": "t",
                "needs_review": False} for _ in range(n)]
    return row_builders(items, results, "api", raw=False)


def stored(db: Any) -> dict[str, str]:
    with db.connect() as conn:
        return {r.item_id: r.text for r in conn.execute(select(Classification.item_id, Classification.text))}


def test_rows_are_committed_by_the_writer_process_and_survive_its_death(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sqmy.db'}"
    db = make_engine(url)
    writer = LogWriter(url)
    log = ClassificationLog(db, writer=writer)
    try:
        deadline = time.monotonic() + 120
        while not writer._ready and time.monotonic() < deadline:  # until the writer process has started
            log.add(rows(1, "warm"))
            log.barrier().result(timeout=60)
            time.sleep(0.1)
        assert writer._ready and writer._process is not None
        first = writer._process.pid
        log.add(rows(5, "a"))
        log.barrier().result(timeout=60)  # committed by the writer process
        assert {f"a-{i}" for i in range(5)} <= set(stored(db))

        os.kill(first, signal.SIGKILL)
        writer._process.join(timeout=30)
        for n in range(3):  # written in process while another writer starts
            log.add(rows(2, f"b{n}"))
            log.barrier().result(timeout=60)
        found = stored(db)
        assert {f"b{n}-{i}" for n in range(3) for i in range(2)} <= set(found)
        assert "13812345678" not in found["b0-0"]  # masked as before
        assert writer._process is not None and writer._process.pid != first
    finally:
        log.close()
        db.dispose()
