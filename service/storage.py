"""Durable storage through SQLAlchemy: SQLite (WAL) by default, PostgreSQL via ``SQMY_DATABASE_URL``."""

from __future__ import annotations

import logging
import queue
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text, create_engine, event, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    pass


class Classification(Base):
    """One routed item: the request and the suggestion that was returned."""

    __tablename__ = "classifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str | None] = mapped_column(String(200), index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)
    topic: Mapped[str] = mapped_column(String(100), index=True)
    topic_path: Mapped[list[str]] = mapped_column(JSON)
    topic_confidence: Mapped[float] = mapped_column(Float)
    lead_department: Mapped[str | None] = mapped_column(String(100))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    engine: Mapped[str] = mapped_column(String(20))
    model_version: Mapped[str] = mapped_column(String(100))
    needs_review: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(20), default="api")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine; SQLite files get WAL, NORMAL sync and a busy timeout."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()
    Base.metadata.create_all(engine)
    return engine


def classification_row(item: dict[str, Any], result: dict[str, Any], source: str) -> dict[str, Any]:
    lead = next((d["name"] for d in result.get("departments", []) if d["role"] == "lead"), None)
    return {
        "item_id": item.get("id"), "title": item.get("title") or "", "text": item["text"],
        "topic": result["topic"], "topic_path": result["topic_path"],
        "topic_confidence": result["topic_confidence"], "lead_department": lead, "result": result,
        "engine": result["engine"], "model_version": result["model_version"],
        "needs_review": result["needs_review"], "source": source, "created_at": datetime.now(UTC),
    }


class ClassificationLog:
    """Writes classification rows from a background thread in batches, off the request path.

    After the first row of a batch it waits up to ``gather_seconds`` for a second one, then takes whatever is
    queued (at most ``max_batch``) and commits it in one transaction. ``close()`` drains the queue."""

    def __init__(self, engine: Engine, *, gather_seconds: float = 0.02, max_batch: int = 500) -> None:
        self.engine, self.gather_seconds, self.max_batch = engine, gather_seconds, max_batch
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="sqmy-classification-log", daemon=True)
        self._thread.start()

    def add(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self._queue.put(row)

    def _run(self) -> None:
        while True:
            batch: list[dict[str, Any]] = []
            row = self._queue.get()
            while row is not None:
                batch.append(row)
                if len(batch) >= self.max_batch:
                    break
                try:
                    row = self._queue.get(timeout=0 if len(batch) > 1 else self.gather_seconds)
                except queue.Empty:
                    break
            stop = row is None
            if batch:
                self._write(batch)
            for _ in range(len(batch) + stop):
                self._queue.task_done()
            if stop:
                return

    def _write(self, batch: list[dict[str, Any]]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(Classification), batch)
        except Exception:  # never let logging take the service down; report it
            log.exception("could not store %d classification rows", len(batch))

    def flush(self) -> None:
        """Block until everything queued so far is written."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)


def recent_classifications(engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(Classification).order_by(Classification.id.desc()).limit(limit)).mappings()
        return [dict(r) for r in rows]
