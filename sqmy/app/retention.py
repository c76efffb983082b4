"""Retention: remove classifications and finished jobs' files past their age (``sqmy prune``, or daily in the
service). Feedback is training data and is never removed; the audit trail only when asked for. Classifications
removed here leave the similarity index too (``SQMY_HOME/similar``: its items, and the graph and LSH of every
process holding them)."""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.engine import Engine as DbEngine

from sqmy.app.storage import AuditEvent, Classification, IdempotencyKey, Job, audit, now, transaction

log = logging.getLogger(__name__)
FINISHED = ("succeeded", "failed", "cancelled")
CHUNK = 2000  # rows deleted per transaction: a large prune never holds the write lock for long
DAY_SECONDS = 86_400


@dataclass(frozen=True)
class Retention:
    """How many days each kind of record is kept; ``None`` keeps it for ever."""

    classification_days: int | None = None
    job_days: int | None = None
    audit_days: int | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> Retention:
        days = settings.RETENTION_DAYS
        job_days = settings.JOB_RETENTION_DAYS if settings.JOB_RETENTION_DAYS is not None else days
        return cls(days, job_days, settings.AUDIT_RETENTION_DAYS)

    @property
    def active(self) -> bool:
        return any(d is not None for d in (self.classification_days, self.job_days, self.audit_days))


def prune(db: DbEngine, jobs_dir: Path, retention: Retention, *, dry_run: bool = False, actor: str = "cli",
          at: datetime | None = None, similar_dir: Path | None = None) -> dict[str, Any]:
    """Remove (or with ``dry_run`` only count) what is older than ``retention`` allows; return what was removed.
    ``similar_dir``: the similarity index the removed classifications leave (when it exists)."""
    at = at or now()
    report: dict[str, Any] = {"dry_run": dry_run, "at": at.isoformat(timespec="seconds"), "cutoffs": {},
                              "classifications": 0, "idempotency_keys": 0, "audit_events": 0, "jobs": [],
                              "job_files_bytes": 0, "feedback": "kept (training data)"}
    if retention.classification_days is not None:
        cutoff = at - timedelta(days=retention.classification_days)
        report["cutoffs"]["classifications"] = cutoff.isoformat(timespec="seconds")
        removed_uids: list[str] = []
        report["classifications"] = _delete_older(db, Classification.id, Classification.created_at < cutoff, dry_run,
                                                  collect=(Classification.uid, removed_uids))
        report["similar_items"] = _unindex(similar_dir, removed_uids)
        report["idempotency_keys"] = _delete_older(db, IdempotencyKey.id, IdempotencyKey.created_at < cutoff,
                                                   dry_run)
    if retention.audit_days is not None:
        cutoff = at - timedelta(days=retention.audit_days)
        report["cutoffs"]["audit_events"] = cutoff.isoformat(timespec="seconds")
        report["audit_events"] = _delete_older(db, AuditEvent.id, AuditEvent.at < cutoff, dry_run)
    if retention.job_days is not None:
        cutoff = at - timedelta(days=retention.job_days)
        report["cutoffs"]["jobs"] = cutoff.isoformat(timespec="seconds")
        report["jobs"], report["job_files_bytes"] = _prune_job_files(db, Path(jobs_dir), cutoff, dry_run)
    if not dry_run and (report["classifications"] or report["audit_events"] or report["jobs"]):
        audit(db, actor, "retention.prune", "", classifications=report["classifications"],
              audit_events=report["audit_events"], jobs=len(report["jobs"]), cutoffs=report["cutoffs"])
    return report


def _unindex(similar_dir: Path | None, ids: list[str]) -> int:
    """Delete these items from the similarity index's store (the processes holding its graph drop them at their
    next look at the store); how many were indexed."""
    if similar_dir is None or not ids or not (similar_dir / "items.db").is_file():
        return 0
    from sqmy.app.similar.store import ItemStore

    store = ItemStore(similar_dir / "items.db")
    try:
        return store.remove(ids)
    finally:
        store.close()


def _delete_older(db: DbEngine, key: Any, older: ColumnElement[bool], dry_run: bool,
                  collect: tuple[Any, list[Any]] | None = None) -> int:
    """Count, and unless ``dry_run`` delete, the rows matching ``older``, in chunks of ``CHUNK`` by ``key``;
    ``collect``: a column whose values of the deleted rows are appended to the list."""
    table = key.class_
    with db.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(table).where(older)).scalar() or 0)
    if dry_run or not total:
        return total
    removed = 0
    while True:
        with transaction(db) as conn:
            chosen = conn.execute(select(key, *([collect[0]] if collect else [])).where(older).order_by(key)
                                  .limit(CHUNK)).all()
            ids = [row[0] for row in chosen]
            if collect:
                collect[1].extend(row[1] for row in chosen if row[1] is not None)
            if ids:
                conn.execute(delete(table).where(key.in_(ids)))
        removed += len(ids)
        if len(ids) < CHUNK:
            return removed


def _prune_job_files(db: DbEngine, jobs_dir: Path, cutoff: datetime, dry_run: bool) -> tuple[list[str], int]:
    """Folders of jobs that finished before ``cutoff``, and folders no job owns last touched before it (an
    upload whose job was never recorded). Running and queued jobs are never touched; the job rows stay."""
    if not jobs_dir.is_dir():
        return [], 0
    with db.connect() as conn:
        rows = conn.execute(select(Job.id, Job.status, Job.finished_at)).all()
    known = {r.id: r for r in rows}
    cutoff_ts = cutoff.timestamp()
    removed, size = [], 0
    for folder in sorted(p for p in jobs_dir.iterdir() if p.is_dir()):
        job = known.get(folder.name)
        if job is None:
            old = folder.stat().st_mtime < cutoff_ts
        else:
            finished = job.finished_at
            old = job.status in FINISHED and finished is not None and _timestamp(finished) < cutoff_ts
        if not old:
            continue
        size += sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        removed.append(folder.name)
        if not dry_run:
            shutil.rmtree(folder, ignore_errors=True)
    return removed, size


def _timestamp(value: datetime) -> float:
    """SQLite hands timezone-aware columns back naive (they were stored as UTC)."""
    return (value if value.tzinfo else value.replace(tzinfo=now().tzinfo)).timestamp()


class DailyPrune:
    """Runs ``prune`` once a day in a background thread (the service starts it when a retention is set)."""

    def __init__(self, db: DbEngine, jobs_dir: Path, retention: Retention, *, first_delay: float = 60,
                 interval: float = DAY_SECONDS, similar_dir: Path | None = None) -> None:
        self.db, self.jobs_dir, self.retention, self.similar_dir = db, jobs_dir, retention, similar_dir
        self.first_delay, self.interval = first_delay, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqmy-prune", daemon=True)

    def start(self) -> None:
        if self.retention.active:
            self._thread.start()

    def _run(self) -> None:
        delay = self.first_delay  # soon after start (a service restarted daily still prunes), then daily
        while not self._stop.wait(delay):
            delay = self.interval
            try:
                report = prune(self.db, self.jobs_dir, self.retention, actor="service",
                               similar_dir=self.similar_dir)
                log.info("retention: removed %d classifications, %d job folders", report["classifications"],
                         len(report["jobs"]))
            except Exception:  # a failed prune must not take the service down; it is tried again tomorrow
                log.exception("retention prune failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
