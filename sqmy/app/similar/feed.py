"""The similarity index fed from the classification log: every classification the service accepts is a row of the
``classifications`` table; a feeder reads the rows after its watermark, writes them to the index's item store and
moves the watermark on. The watermark (``feed.json``) and a lock (``feed.lock``) live beside the store under
``SQMY_HOME/similar``, so the indexer process and a server catching up before a lookup feed the same rows once,
in order, and a feeder that died is followed by one that starts where it stopped.

The store receives what the log stores: title and text with phone and ID numbers masked unless
SQMY_STORE_RAW_TEXT (or SQMY_MASK_PII off), and the places of the facts found at classification time."""

from __future__ import annotations

import json
import logging
import os
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from sqmy.app.similar.index import store_entries
from sqmy.app.similar.store import Entry, ItemStore
from sqmy.app.similar.vectors import Projection
from sqmy.app.storage import Classification
from sqmy.core.locks import file_lock

log = logging.getLogger(__name__)
FEED_BATCH = 128  # rows read, derived and stored at once (the lock is held that long)
LOOKBACK = 1000  # PostgreSQL: ids below the watermark looked at again (a transaction may commit after a later id)
SOURCE = "api"  # the rows of /v1/classify (the only rows the service indexed before)
COLUMNS = (Classification.id, Classification.uid, Classification.title, Classification.text,
           Classification.topic_path, Classification.lead_department, Classification.result,
           Classification.created_at)


def entry_of(row: Any) -> Entry:
    """The index entry of one classification row: its stored title and text, its labels, the places of its facts."""
    facts = (row.result or {}).get("facts") if isinstance(row.result, dict) else None
    created = row.created_at
    date = created.date().isoformat() if isinstance(created, datetime) else str(created or "")[:10] or None
    return Entry(id=row.uid, text=row.text or "", title=row.title or "", source=SOURCE,
                 topic="/".join(row.topic_path) if row.topic_path else None, lead=row.lead_department, date=date,
                 extra={"facts": facts} if isinstance(facts, list) else {})


class LogFeed:
    """Feeds ``store`` with the classification rows of ``db`` after the watermark kept in ``directory``."""

    def __init__(self, db: Engine, directory: Path, projection: Projection, store: ItemStore, *,
                 batch: int = FEED_BATCH, lookback: int | None = None) -> None:
        """``lookback``: how many ids below the watermark are checked again for rows committed late (default 0 on
        SQLite, whose writers commit in id order, else ``LOOKBACK``)."""
        self.db, self.directory, self.projection, self.store, self.batch = db, directory, projection, store, batch
        self.lookback = lookback if lookback is not None else 0 if db.dialect.name == "sqlite" else LOOKBACK
        directory.mkdir(parents=True, exist_ok=True)
        self.state_path = directory / "feed.json"

    def _locked(self) -> AbstractContextManager[None]:
        return file_lock(self.directory / "feed.lock")

    def watermark(self) -> int:
        """The id of the last classification row fed (0: none yet)."""
        try:
            return int(json.loads(self.state_path.read_text(encoding="utf-8"))["classifications"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    def _save(self, last: int) -> None:
        tmp = self.directory / f"feed.json.tmp-{os.getpid()}"
        tmp.write_text(json.dumps({"classifications": last}), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def feed_once(self) -> int:
        """Store the next rows after the watermark (at most ``batch``) and move it on; how many rows after the
        watermark were read. An item already in the store is left as it is (a verdict may have changed its labels)."""
        with self._locked():
            with self.db.connect() as conn:
                if not self.state_path.is_file():
                    self._save(self._first_watermark(conn))
                last = self.watermark()
                rows = list(conn.execute(select(*COLUMNS).where(Classification.id > last,
                                                                Classification.source == SOURCE)
                                         .order_by(Classification.id).limit(self.batch)).all())
                forward = len(rows)
                if not rows and last and int(conn.execute(select(func.coalesce(func.max(Classification.id), 0)))
                                             .scalar() or 0) < last:  # every row was deleted, ids start again
                    log.warning("classification ids restarted below the index feed's watermark %d", last)
                    self._save(0)
                    return 0
                rows += self._late(conn, last)
            if not rows:
                return 0
            entries = [entry_of(r) for r in rows if r.uid]
            present = self.store.keys_of([e.id for e in entries])
            store_entries(self.store, self.projection, [e for e in entries if e.id not in present])
            self._save(max(last, max(int(r.id) for r in rows)))
            return forward

    def _first_watermark(self, conn: Any) -> int:
        """No watermark yet: 0 on a new home; on a home whose classifications the service indexed itself (before
        this feed), the last classification id whose item is indexed (found by bisection: they were indexed in id
        order), so the whole log is not read again."""
        if not self.store.count():
            return 0
        low = 0
        high = int(conn.execute(select(func.coalesce(func.max(Classification.id), 0))).scalar() or 0)
        while low < high:
            middle = (low + high + 1) // 2
            row = conn.execute(select(Classification.id, Classification.uid).where(Classification.id >= middle)
                               .order_by(Classification.id).limit(1)).first()
            if row is not None and row.uid and self.store.key_of(row.uid) is not None:
                low = int(row.id)
            else:
                high = middle - 1
        if low:
            log.info("similarity index feed starts after classification %d (indexed before the feed)", low)
        return low

    def _late(self, conn: Any, last: int) -> list[Any]:
        """The rows with ids in the ``lookback`` below the watermark that the store lacks (committed after a
        row with a higher id was fed)."""
        if not self.lookback or not last:
            return []
        recent = conn.execute(select(Classification.uid).where(
            Classification.id > last - self.lookback, Classification.id <= last,
            Classification.source == SOURCE)).scalars().all()
        present = self.store.keys_of([u for u in recent if u])
        missing = [u for u in recent if u and u not in present]
        if not missing:
            return []
        return list(conn.execute(select(*COLUMNS).where(Classification.uid.in_(missing[:self.batch]))).all())

    def catch_up(self) -> int:
        """Feed every row committed so far; how many were read."""
        total = 0
        while True:
            count = self.feed_once()
            total += count
            if count < self.batch:
                return total
