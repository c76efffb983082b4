"""Durable storage through SQLAlchemy: SQLite (WAL) by default, PostgreSQL via ``SQMY_DATABASE_URL``."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import queue
import random
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sqmy.core.pii import mask_pii, mask_values

log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    pass


class Classification(Base):
    """One routed item: the request and the suggestion that was returned."""

    __tablename__ = "classifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uid: Mapped[str | None] = mapped_column(String(40), unique=True, index=True)  # returned as classification_id
    item_id: Mapped[str | None] = mapped_column(String(200), index=True)
    # the item this classification is of: the client's id, else a digest of the normalised title and text (the
    # same key a verdict is stored under, see ``item_key``): the same text classified twice is one item
    item_key: Mapped[str | None] = mapped_column(String(200), index=True)
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


class Feedback(Base):
    """A staff member's verdict on one item: accepted as suggested, or corrected. Rows are never updated; the
    newest row per item is the item's label (see ``sqmy.app.feedback``)."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(String(200), index=True)
    classification_id: Mapped[str | None] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(20))  # accept | correct
    topic_path: Mapped[list[str] | None] = mapped_column(JSON)
    lead: Mapped[str | None] = mapped_column(String(100))
    assists: Mapped[list[str] | None] = mapped_column(JSON)
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the labels before this verdict
    editor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(20), default="api")  # api | import
    supersedes: Mapped[int | None] = mapped_column(Integer)  # the item's previous verdict that this one revises
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuditEvent(Base):
    """Who did what and when: feedback, imports, promotions, rollbacks, retraining, key changes."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IdempotencyKey(Base):
    """A client's ``Idempotency-Key`` on ``POST /v1/feedback``: a repeat of the same request under the same key
    returns the verdict stored the first time instead of storing it again."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("actor", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the request body (canonical JSON)
    feedback_id: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)  # the answer given the first time, returned again
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ApiKey(Base):
    """An API key: only its SHA-256 digest is stored; ``prefix`` lets staff tell keys apart."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Job(Base):
    """A background job (retraining, batch reclassification) run as a ``sqmy`` subprocess."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MergeGroup(Base):
    """A merge group (并案): items handled as one case, with a lead item and the unit that leads the case."""

    __tablename__ = "merge_groups"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    lead_item: Mapped[str | None] = mapped_column(String(200))
    lead_unit: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MergeGroupMember(Base):
    """One item of a merge group (an item belongs to at most one group)."""

    __tablename__ = "merge_group_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[str] = mapped_column(String(40), index=True)
    item_id: Mapped[str] = mapped_column(String(200), unique=True, index=True)
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def now() -> datetime:
    return datetime.now(UTC)


def audit(db: Engine | Connection, actor: str, action: str, target: str = "", **details: Any) -> None:
    """Append one audit event: inside the caller's transaction when given a connection (the change and its audit
    entry commit together), else in a transaction of its own. The audit trail never carries a phone or ID number
    (masked whatever SQMY_MASK_PII says: it is kept for ever)."""
    statement = insert(AuditEvent).values(at=now(), actor=actor, action=action, target=mask_pii(target),
                                          details=mask_values(details))
    if isinstance(db, Connection):
        db.execute(statement)
        return
    with transaction(db) as conn:
        conn.execute(statement)


def audit_events(db: Engine, *, action: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest audit events (optionally those whose action starts with ``action``)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEvent.action.startswith(action))
    with db.connect() as conn:
        return [{"id": r["id"], "at": r["at"].isoformat(timespec="seconds"), "actor": r["actor"],
                 "action": r["action"], "target": r["target"], "details": r["details"]}
                for r in conn.execute(query).mappings()]


WRITE_OPTION = "sqmy_write"  # execution option that marks a connection's transaction as a write (SQLite)
BUSY_RETRIES = 6  # further tries of a write transaction's BEGIN after SQLite's own busy timeout ran out
BUSY_TIMEOUT_MS = 5000


def _json_text(value: Any) -> str:
    """JSON columns written with orjson (several times faster than ``json.dumps``; Chinese kept as UTF-8)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine; SQLite files get WAL, NORMAL sync, a busy timeout, and SQLAlchemy (not the sqlite3
    module) emits BEGIN: ``BEGIN IMMEDIATE`` for write transactions (see ``transaction``), a plain BEGIN for
    reads (the documented pysqlite recipe)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # hide_parameters: a failed statement's message (logged) never carries the values, i.e. citizens' text
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"), hide_parameters=True,
                           json_serializer=_json_text)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # the sqlite3 module emits no BEGIN of its own
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")
    with transaction(engine) as conn:  # two processes starting on a fresh home create the tables once
        Base.metadata.create_all(conn)
        _add_missing_columns(conn)
        # a database from before item_key got the column from _add_missing_columns, without its index
        conn.execute(text("CREATE INDEX IF NOT EXISTS ix_classifications_item_key ON classifications (item_key)"))
        if engine.dialect.name == "sqlite":
            _search_index(conn)
    return engine


SEARCH_TABLE = "classifications_fts"


def _search_index(conn: Connection) -> None:
    """SQLite: a full-text index (FTS5, trigram tokenizer: any substring of three or more characters, Chinese
    included) over the classifications' title and text, kept in step by triggers; built once over the rows of a
    database that predates it. Without FTS5's trigram tokenizer (SQLite < 3.34) search falls back to LIKE."""
    exists = conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = :n"), {"n": SEARCH_TABLE}).first()
    if exists:
        return
    try:
        conn.execute(text(f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5(title, text, content='classifications', "
                          "content_rowid='id', tokenize='trigram')"))
    except OperationalError:
        log.warning("SQLite without FTS5 trigram tokenizer: history search uses LIKE")
        return
    conn.execute(text(f"CREATE TRIGGER {SEARCH_TABLE}_ai AFTER INSERT ON classifications BEGIN "
                      f"INSERT INTO {SEARCH_TABLE}(rowid, title, text) VALUES (new.id, new.title, new.text); END"))
    conn.execute(text(f"CREATE TRIGGER {SEARCH_TABLE}_ad AFTER DELETE ON classifications BEGIN "
                      f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}, rowid, title, text) "
                      "VALUES ('delete', old.id, old.title, old.text); END"))
    conn.execute(text(f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('rebuild')"))


def has_search_index(conn: Connection) -> bool:
    """Whether the database has the FTS5 index of ``_search_index``."""
    if conn.dialect.name != "sqlite":
        return False
    return conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = :n"), {"n": SEARCH_TABLE}).first() is not None


def is_busy(exc: BaseException) -> bool:
    """SQLite's SQLITE_BUSY / SQLITE_LOCKED ("database is locked"): another process holds the write lock."""
    return isinstance(exc, OperationalError) and "locked" in str(exc.orig)


@contextmanager
def transaction(db: Engine) -> Iterator[Connection]:
    """A write transaction, committed on leaving the block, rolled back on an exception.

    On SQLite it starts with ``BEGIN IMMEDIATE``: the write lock is taken up front (waiting up to the busy
    timeout), so no statement inside can fail half-way with "database is locked" when another process (a second
    server, a job) writes; the BEGIN itself is retried with jittered backoff when the wait runs out. Elsewhere
    (PostgreSQL) it is an ordinary transaction."""
    conn = _begin_write(db)
    with conn:
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def _begin_write(db: Engine) -> Connection:
    delay = 0.05
    for attempt in range(BUSY_RETRIES + 1):
        conn = db.connect().execution_options(**{WRITE_OPTION: True})
        try:
            conn.begin()
            return conn
        except OperationalError as exc:
            conn.close()
            if not is_busy(exc) or attempt == BUSY_RETRIES:
                raise
            log.warning("database busy, retrying a write in %.2f s (%d/%d)", delay, attempt + 1, BUSY_RETRIES)
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


def _add_missing_columns(conn: Connection) -> None:
    """Databases created by an earlier version lack newer nullable columns: add them (no data changes)."""
    inspector = inspect(conn)
    for table in Base.metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present and column.nullable:
                kind = column.type.compile(dialect=conn.dialect)
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def item_key(item_id: str | None, title: str, text: str) -> str:
    """The key an item's classifications and verdicts share: the client's id, else ``t-`` and a digest of the
    normalised title and text (NFKC, lower case, whitespace removed: a pasted copy with other line breaks or
    spacing is the same item)."""
    if item_id:
        return item_id[:200]
    key = "\n".join("".join(unicodedata.normalize("NFKC", part).lower().split()) for part in (title, text))
    return "t-" + hashlib.sha256(key.encode()).hexdigest()[:16]


class _RandomPool:
    """Bytes from ``os.urandom`` drawn 4 KiB at a time. ``os.urandom`` releases the GIL around its system call, so
    one call per request on the event loop handed the GIL to the batch thread and waited for it back (up to the
    5 ms switch interval); from the pool a classification id costs a slice. A forked child starts a new pool."""

    SIZE = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer, self._position = b"", 0
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._buffer, self._position = b"", 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._position + n > len(self._buffer):
                self._buffer, self._position = os.urandom(max(self.SIZE, n)), 0
            out = self._buffer[self._position:self._position + n]
            self._position += n
        return out


_random_pool = _RandomPool()


def new_classification_id() -> str:
    """``c-`` and 16 random hex digits (64 bits from the operating system's CSPRNG, as ``secrets.token_hex(8)``)."""
    return f"c-{_random_pool.take(8).hex()}"


StoredFields = tuple[str, str, str]  # item key, title and text as stored (masked unless raw)


def stored_fields(item_id: str | None, title: str, text: str, *, raw: bool = False) -> StoredFields:
    """What a classification row stores of its item: the item key, title and text (phone and ID numbers masked
    unless ``raw``). Over long texts the costly part of a row (the bulk lane computes it in its worker)."""
    keep = (lambda s: s) if raw else mask_pii
    return item_key(item_id, title, text), keep(title), keep(text)


def classification_row(item: dict[str, Any], result: dict[str, Any], source: str, *,
                       raw: bool = False, stored: StoredFields | None = None) -> dict[str, Any]:
    """The stored row of one classification; title and text with phone and ID numbers masked unless ``raw``
    (SQMY_STORE_RAW_TEXT, or SQMY_MASK_PII off). ``stored``: those fields already computed (``stored_fields``)."""
    lead = next((d["name"] for d in result.get("departments", []) if d["role"] == "lead"), None)
    key, title, text = stored or stored_fields(item.get("id"), item.get("title") or "", item["text"], raw=raw)
    return {
        "uid": result.get("classification_id"), "item_id": item.get("id"), "item_key": key,
        "title": title, "text": text,
        "topic": result["topic"], "topic_path": result["topic_path"],
        "topic_confidence": result["topic_confidence"], "lead_department": lead, "result": result,
        "engine": result["engine"], "model_version": result["model_version"],
        "needs_review": result["needs_review"], "source": source, "created_at": datetime.now(UTC),
    }


def row_builders(items: Sequence[dict[str, Any]], results: Sequence[dict[str, Any]], source: str, *, raw: bool,
                 stored: Future[list[StoredFields]] | None = None) -> list[Callable[[], dict[str, Any]]]:
    """What ``ClassificationLog.add`` takes: per item a function that builds its row in the writer thread, from
    ``stored`` (computed elsewhere, e.g. in the bulk worker) when it gives them, else computing them there."""
    memo: list[list[StoredFields] | None] = []

    def fields() -> list[StoredFields] | None:
        if not memo:
            try:
                memo.append(stored.result(timeout=300) if stored is not None else None)
            except Exception as exc:  # computed here instead
                log.warning("stored fields not computed by the bulk lane (%s); computing them here",
                            type(exc).__name__)
                memo.append(None)
        return memo[0]

    def build(i: int) -> dict[str, Any]:
        given = fields()
        return classification_row(items[i], results[i], source, raw=raw, stored=given[i] if given else None)

    return [functools.partial(build, i) for i in range(len(items))]


PendingRow = dict[str, Any] | Callable[[], dict[str, Any]]  # a row, or what builds it in the writer thread


class WriterUnavailableError(RuntimeError):
    """A log writer process could not take a batch (not started, or died): it is written in process."""


class LogSink(Protocol):
    """Where ``ClassificationLog`` commits its batches instead of in process (``sqmy.app.logwriter``)."""

    def write(self, rows: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


class ClassificationLog:
    """Writes classification rows from a background thread in batches, off the request path.

    A batch is what arrives within ``gather_seconds`` of its first row (at most ``max_batch``), committed in one
    transaction. When rows arrive at an idle writer (nothing queued or being written) they are written at once and
    ``add`` returns a future done on commit, so an idle server can store a classification before acknowledging it
    (cheap: one small transaction); a busy one batches. ``close()`` drains the queue."""

    def __init__(self, engine: Engine, *, gather_seconds: float = 0.02, max_batch: int = 500,
                 writer: LogSink | None = None) -> None:
        """``writer``: commits a batch elsewhere (``sqmy.app.logwriter``: a process of its own), raising
        ``WriterUnavailableError`` when it cannot, so the batch is written here."""
        self.engine, self.gather_seconds, self.max_batch = engine, gather_seconds, max_batch
        self.writer = writer
        self._queue: queue.Queue[PendingRow | Future[None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="sqmy-classification-log", daemon=True)
        self._thread.start()

    def add(self, rows: Sequence[PendingRow]) -> Future[None] | None:
        """Queue ``rows`` (rows, or functions that build them: the writer thread calls them, so masking and
        hashing long texts stays off the caller's event loop). When the writer was idle (see the class), a future
        done once they are committed (or their write failed and was logged), else ``None``.
        Await it with ``asyncio.wrap_future``: no thread waits for it."""
        idle = self._queue.unfinished_tasks == 0
        for row in rows:
            self._queue.put(row)
        if not (idle and rows):
            return None
        written: Future[None] = Future()
        self._queue.put(written)  # ends the batch at once; done after the rows before it are written
        return written

    def barrier(self) -> Future[None]:
        """A future done once every row queued before this call is committed (or its write failed and was
        logged); await it with ``asyncio.wrap_future`` or wait for its ``result()``."""
        written: Future[None] = Future()
        self._queue.put(written)
        return written

    def _run(self) -> None:
        while True:
            batch, written, stop = self._gather()
            if batch:
                self._write(batch)
            for done in written:
                if not done.cancelled():
                    done.set_result(None)
            for _ in range(len(batch) + len(written) + stop):
                self._queue.task_done()
            if stop:
                return

    def _gather(self) -> tuple[list[PendingRow], list[Future[None]], bool]:
        """The next batch: rows, the write futures that end it, whether ``close()`` was asked for."""
        batch: list[PendingRow] = []
        written: list[Future[None]] = []
        item = self._queue.get()
        deadline = time.monotonic() + self.gather_seconds
        while item is not None:
            if isinstance(item, Future):
                written.append(item)
                break
            batch.append(item)
            if len(batch) >= self.max_batch:
                break
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
        return batch, written, item is None

    def _write(self, batch: list[PendingRow]) -> None:
        try:
            rows = [row() if callable(row) else row for row in batch]
            if self.writer is not None:
                try:
                    self.writer.write(rows)
                    return
                except WriterUnavailableError as exc:  # "starting": the first second of a server's life
                    log.log(logging.DEBUG if str(exc) == "starting" else logging.WARNING,
                            "log writer process unavailable (%s); writing %d rows in process", exc, len(rows))
            with transaction(self.engine) as conn:
                conn.execute(insert(Classification), rows)
        except Exception:  # never let logging take the service down; report it
            log.exception("could not store %d classification rows", len(batch))

    def flush(self) -> None:
        """Block until everything queued so far is written."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        if self.writer is not None:
            self.writer.close()
