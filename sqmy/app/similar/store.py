"""The items of the similarity index, in one SQLite file under ``SQMY_HOME/similar``: text and what the answers
show (title, topic, lead unit, date, verdict), with each item's vector and MinHash signature.

It is the source of truth that several processes share (the service, ``sqmy batch --index``): a write is one
``BEGIN IMMEDIATE`` transaction, so keys are handed out in commit order and a reader that has seen every key up to
``k`` never misses a later commit below ``k``."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = ("""
CREATE TABLE IF NOT EXISTS items (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    topic TEXT,
    lead TEXT,
    date TEXT,
    verdict TEXT,
    places TEXT NOT NULL DEFAULT '',
    vec BLOB NOT NULL,
    sig BLOB NOT NULL,
    norm TEXT  -- the text the sparse cosine reads (``matter_text(item_text(title, text))``); NULL before format 3
);
""", """
CREATE TABLE IF NOT EXISTS removed (  -- keys deleted from items (retention), for the processes holding a graph
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key INTEGER NOT NULL
);
""", """
CREATE TABLE IF NOT EXISTS meaning (  -- embeddings by meaning (``meaning.py``), computed after the item was added
    key INTEGER PRIMARY KEY,
    vec BLOB NOT NULL  -- float16, L2-normalised
);
""", """
CREATE TABLE IF NOT EXISTS meaning_log (  -- every embedding stored, in order, for the graphs by meaning to catch up
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key INTEGER NOT NULL  -- RESET: every embedding was dropped (another encoder)
);
""")
RESET = -1  # ``meaning_log.key`` of a ``clear_meaning``
FORMAT = 3  # what vec/sig/places/norm hold (PRAGMA user_version); 2: multiply-shift MinHash, places of the facts
# extractor; 3: the ``norm`` column (added to a format-2 file on open; its rows keep NULL, computed when read)
FIELDS = ("key", "id", "source", "title", "text", "topic", "lead", "date", "verdict", "places")



@dataclass
class Entry:
    """One item to index; ``id`` is unique across sources (``c-…`` classifications, ``f-…`` verdicts, archive
    row ids)."""

    id: str
    text: str
    title: str = ""
    source: str = "api"
    topic: str | None = None
    lead: str | None = None
    date: str | None = None
    verdict: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def log_meaning(conn: sqlite3.Connection) -> None:
    """Embeddings stored before ``meaning_log`` existed go into it once, in key order."""
    if conn.execute("SELECT 1 FROM meaning_log LIMIT 1").fetchone() is None:
        conn.execute("INSERT INTO meaning_log (key) SELECT key FROM meaning ORDER BY key")


def _halves(vectors: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(vectors), dtype=np.float16).reshape(len(vectors), -1).astype(np.float32)


class ItemStore:
    """SQLite access to the items table (one connection, serialised by a lock; WAL, busy timeout)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._write(lambda c: [c.execute(statement) for statement in SCHEMA])
        self._upgrade()
        self._write(log_meaning)
        if self.format == 0 and self.count() == 0:
            self.format = FORMAT

    def _upgrade(self) -> None:
        """A file of an older format gains the ``norm`` column; a format-2 file is then current (its vectors,
        signatures and places are those of format 3; ``norm`` is NULL and computed when read). Older formats stay
        as they are: ``SimilarIndex`` re-derives them."""
        def add_column(conn: sqlite3.Connection) -> None:  # checked inside the write lock: two processes may open
            if "norm" not in {row[1] for row in conn.execute("PRAGMA table_info(items)").fetchall()}:
                conn.execute("ALTER TABLE items ADD COLUMN norm TEXT")
            if int(conn.execute("PRAGMA user_version").fetchone()[0]) == 2:
                conn.execute(f"PRAGMA user_version = {FORMAT}")
        self._write(add_column)

    @property
    def format(self) -> int:
        """The format of the derived columns (``FORMAT`` when current; older files are re-derived on open)."""
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @format.setter
    def format(self, value: int) -> None:
        with self._lock:
            self._conn.execute(f"PRAGMA user_version = {int(value)}")

    def texts_since(self, key: int, batch: int = 5000) -> Iterator[list[tuple[int, str, str]]]:
        """``(key, title, text)`` of the items after ``key``, in batches (to re-derive their vectors)."""
        while True:
            with self._lock:
                rows = self._conn.execute("SELECT key, title, text FROM items WHERE key > ? ORDER BY key LIMIT ?",
                                          (key, batch)).fetchall()
            if not rows:
                return
            yield rows
            key = int(rows[-1][0])

    def rederive(self, keys: Sequence[int], places: Sequence[str], vectors: np.ndarray,
                 signatures: np.ndarray, norms: Sequence[str | None] | None = None) -> None:
        """Replace the derived columns of these items."""
        norms = norms if norms is not None else [None] * len(keys)
        rows = [(p, vectors[i].astype(np.float32).tobytes(), signatures[i].astype(np.uint32).tobytes(), n, int(k))
                for i, (k, p, n) in enumerate(zip(keys, places, norms, strict=True))]
        self._write(lambda c: c.executemany(
            "UPDATE items SET places = ?, vec = ?, sig = ?, norm = ? WHERE key = ?", rows))

    def remove(self, ids: Sequence[str]) -> int:
        """Delete the items with these ids (retention) and record their keys in ``removed``; how many."""
        def work(conn: sqlite3.Connection) -> int:
            count = 0
            for start in range(0, len(ids), 500):
                chunk = list(ids[start:start + 500])
                marks = ",".join("?" * len(chunk))
                conn.execute(f"INSERT INTO removed (key) SELECT key FROM items WHERE id IN ({marks})", chunk)
                conn.execute(f"DELETE FROM meaning WHERE key IN (SELECT key FROM items WHERE id IN ({marks}))", chunk)
                count += conn.execute(f"DELETE FROM items WHERE id IN ({marks})", chunk).rowcount
            return count
        return int(self._write(work))

    def removed_since(self, seq: int) -> tuple[int, list[int]]:
        """The keys removed after ``seq`` and the last ``seq`` seen."""
        with self._lock:
            rows = self._conn.execute("SELECT seq, key FROM removed WHERE seq > ? ORDER BY seq", (seq,)).fetchall()
        return (int(rows[-1][0]) if rows else seq), [int(r[1]) for r in rows]

    def _write(self, work: Any) -> Any:
        """Run ``work(conn)`` in a ``BEGIN IMMEDIATE`` transaction, retrying while another process holds the lock."""
        with self._lock:
            for attempt in range(20):
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or attempt == 19:
                        raise
                    time.sleep(0.05 * (attempt + 1))
            try:
                result = work(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return result

    def add(self, entries: Sequence[Entry], places: Sequence[str], vectors: np.ndarray,
            signatures: np.ndarray, norms: Sequence[str | None] | None = None) -> None:
        """Insert new items; an id already present keeps its text and vectors and takes the new labels."""
        norms = norms if norms is not None else [None] * len(entries)
        rows = [(e.id, e.source, e.title, e.text, e.topic, e.lead, e.date, e.verdict, p,
                 vectors[i].astype(np.float32).tobytes(), signatures[i].astype(np.uint32).tobytes(), n)
                for i, (e, p, n) in enumerate(zip(entries, places, norms, strict=True))]
        self._write(lambda c: c.executemany(
            "INSERT INTO items (id, source, title, text, topic, lead, date, verdict, places, vec, sig, norm) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "topic = COALESCE(excluded.topic, topic), lead = COALESCE(excluded.lead, lead), "
            "verdict = COALESCE(excluded.verdict, verdict), date = COALESCE(date, excluded.date)", rows))

    def set_labels(self, item_id: str, *, topic: str | None, lead: str | None, verdict: str | None) -> bool:
        """Update an indexed item's labels (a staff verdict); whether the item is indexed."""
        cursor = self._write(lambda c: c.execute(
            "UPDATE items SET topic = COALESCE(?, topic), lead = COALESCE(?, lead), verdict = ? WHERE id = ?",
            (topic, lead, verdict, item_id)))
        return bool(cursor.rowcount)

    def since(self, key: int, *, with_vectors: bool = True, batch: int = 20_000) -> Iterator[
            tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(keys, vectors, signatures)`` of the items after ``key``, in key order, in batches."""
        columns = "key, vec, sig" if with_vectors else "key, sig"
        while True:
            with self._lock:
                rows = self._conn.execute(f"SELECT {columns} FROM items WHERE key > ? ORDER BY key LIMIT ?",
                                          (key, batch)).fetchall()
            if not rows:
                return
            keys = np.array([r[0] for r in rows], dtype=np.uint64)
            vectors = np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows]) if with_vectors else \
                np.zeros((len(rows), 0), dtype=np.float32)
            sigs = np.vstack([np.frombuffer(r[-1], dtype=np.uint32) for r in rows])
            yield keys, vectors, sigs
            key = int(keys[-1])

    def signatures_until(self, key: int, batch: int = 50_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(keys, signatures)`` of the items up to ``key`` (the LSH of a graph snapshot taken at ``key``)."""
        last = 0
        while True:
            with self._lock:
                rows = self._conn.execute("SELECT key, sig FROM items WHERE key > ? AND key <= ? ORDER BY key "
                                          "LIMIT ?", (last, key, batch)).fetchall()
            if not rows:
                return
            keys = np.array([r[0] for r in rows], dtype=np.uint64)
            yield keys, np.frombuffer(b"".join(r[1] for r in rows), dtype=np.uint32).reshape(len(rows), -1)
            last = int(keys[-1])

    def rows(self, keys: Sequence[int], *, vectors: bool = False, norm: bool = False) -> dict[int, dict[str, Any]]:
        """The items with these keys (fields of ``FIELDS``, plus ``vec``/``sig`` arrays when asked, and ``norm``,
        the stored matter text or ``None``, when asked)."""
        if not keys:
            return {}
        columns = ", ".join(FIELDS) + (", norm" if norm else "") + (", vec, sig" if vectors else ", sig")
        marks = ",".join("?" * len(keys))
        with self._lock:
            found = self._conn.execute(f"SELECT {columns} FROM items WHERE key IN ({marks})",
                                       [int(k) for k in keys]).fetchall()
        out: dict[int, dict[str, Any]] = {}
        for row in found:
            item = dict(zip(FIELDS, row[:len(FIELDS)], strict=True))
            if norm:
                item["norm"] = row[len(FIELDS)]
            item["sig"] = np.frombuffer(row[-1], dtype=np.uint32)
            if vectors:
                item["vec"] = np.frombuffer(row[-2], dtype=np.float32)
            out[int(row[0])] = item
        return out

    # -- embeddings by meaning (``meaning.py``) ------------------------------------------------------------------
    def without_meaning(self, limit: int, *, above: int = 0) -> list[tuple[int, str, str]]:
        """``(key, title, text)`` of up to ``limit`` items after ``above`` that have no embedding yet, newest first."""
        with self._lock:
            return self._conn.execute(
                "SELECT key, title, text FROM items WHERE key > ? AND key NOT IN (SELECT key FROM meaning) "
                "ORDER BY key DESC LIMIT ?", (above, limit)).fetchall()

    def put_meaning(self, keys: Sequence[int], vectors: np.ndarray) -> None:
        """Store the embeddings of these items (those removed meanwhile are skipped), logged in ``meaning_log``."""
        rows = [(int(k), vectors[i].astype(np.float16).tobytes()) for i, k in enumerate(keys)]

        def work(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT OR REPLACE INTO meaning (key, vec) SELECT ?1, ?2 "
                             "WHERE EXISTS (SELECT 1 FROM items WHERE key = ?1)", rows)
            conn.executemany("INSERT INTO meaning_log (key) SELECT ?1 "
                             "WHERE EXISTS (SELECT 1 FROM meaning WHERE key = ?1)", [(k,) for k, _ in rows])
        self._write(work)

    def meaning_since(self, seq: int, batch: int = 20_000) -> Iterator[tuple[int, list[int], np.ndarray | None]]:
        """The embeddings logged after ``seq``, in order: ``(last seq, keys, float32 rows)`` batches, and
        ``(seq, [], None)`` where every embedding was dropped (``clear_meaning``). Keys removed since are left out;
        a key stored twice comes twice."""
        while True:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT l.seq, l.key, m.vec FROM meaning_log l LEFT JOIN meaning m ON m.key = l.key "
                    "WHERE l.seq > ? ORDER BY l.seq LIMIT ?", (seq, batch)).fetchall()
            if not rows:
                return
            keys: list[int] = []
            vectors: list[bytes] = []
            for row_seq, key, vec in rows:
                if key == RESET:
                    if keys:
                        yield seq, keys, _halves(vectors)
                    keys, vectors = [], []
                    yield int(row_seq), [], None
                elif vec is not None:
                    keys.append(int(key))
                    vectors.append(vec)
                seq = int(row_seq)
            if keys:
                yield seq, keys, _halves(vectors)
            elif rows[-1][1] != RESET:
                yield seq, [], np.zeros((0, 0), dtype=np.float32)

    def meaning_of(self, keys: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored embeddings of these items (those that have one), ``float32``."""
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        with self._lock:
            found = self._conn.execute(f"SELECT key, vec FROM meaning WHERE key IN ({marks})",
                                       [int(k) for k in keys]).fetchall()
        return dict(zip((int(k) for k, _ in found), _halves([v for _, v in found]), strict=True)) if found else {}

    def clear_meaning(self) -> None:
        """Drop every embedding (another encoder was installed)."""
        self._write(lambda c: (c.execute("DELETE FROM meaning"), c.execute("DELETE FROM meaning_log"),
                               c.execute("INSERT INTO meaning_log (key) VALUES (?)", (RESET,))))

    def meaning_count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM meaning").fetchone()[0])

    def key_of(self, item_id: str) -> int | None:
        with self._lock:
            row = self._conn.execute("SELECT key FROM items WHERE id = ?", (item_id,)).fetchone()
        return int(row[0]) if row else None

    def keys_of(self, ids: Sequence[str]) -> dict[str, int]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            return {r[1]: int(r[0]) for r in self._conn.execute(
                f"SELECT key, id FROM items WHERE id IN ({marks})", list(ids)).fetchall()}

    def between(self, start: str | None, end: str | None) -> list[dict[str, Any]]:
        """Items dated in ``[start, end]`` (ISO dates; either open), without their texts' vectors."""
        query, args = "SELECT " + ", ".join(FIELDS) + " FROM items WHERE 1=1", list[str]()
        if start:
            query, args = query + " AND date >= ?", [*args, start]
        if end:
            query, args = query + " AND date <= ?", [*args, end + "\uffff"]
        with self._lock:
            return [dict(zip(FIELDS, r, strict=True)) for r in self._conn.execute(query, args).fetchall()]

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def max_key(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COALESCE(MAX(key), 0) FROM items").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
