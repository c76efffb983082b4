"""Background jobs (retraining, batch reclassification), each run as a ``sqmy`` subprocess.

The job row lives in the database (status, parameters, result); the subprocess reports progress through
``<jobs_dir>/<id>/progress.json`` and its final summary through ``summary.json``. One retraining runs at a time;
batch jobs run ``batch_parallel`` at a time, at most one per user, and users take turns (``FairQueue``): one
user's long job does not hold up another's. Cancelling terminates the subprocess."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine as DbEngine

from sqmy.app.fairqueue import FairQueue
from sqmy.app.storage import Job, audit, now, transaction
from sqmy.core.config import default
from sqmy.core.progress import read_json

log = logging.getLogger(__name__)
_ABSOLUTE_PATH = re.compile(r"(?:[A-Za-z]:)?[/\\](?:[^/\\\s：，,）)\"']+[/\\])+([^/\\\s：，,）)\"']+)")


def failure_message(log_text: str, code: int) -> str:
    """What a failed job tells its user: the command's own message (``错误：…``) with file names instead of the
    server's paths, never a traceback; the full log stays in the job's folder on the server."""
    messages = [line.strip() for line in log_text.splitlines() if line.strip().startswith("错误：")]
    if messages:
        return _ABSOLUTE_PATH.sub(r"\1", messages[-1])
    return f"任务失败（退出码 {code}），详细原因已记入服务器日志"

KINDS = ("retrain", "batch")
FINISHED = ("succeeded", "failed", "cancelled")
ArgvBuilder = Callable[[Path], list[str]]  # job directory → the sqmy arguments to run


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


class JobManager:
    """Submit, run, watch and cancel jobs. ``env`` is the environment the subprocesses get."""

    def __init__(self, db: DbEngine, jobs_dir: Path, env: dict[str, str],
                 on_finished: Callable[[dict[str, Any]], None] | None = None,
                 batch_parallel: int = default("BATCH_JOBS_PARALLEL")) -> None:
        self.db, self.jobs_dir, self.env, self.on_finished = db, Path(jobs_dir), env, on_finished
        self._queues: dict[str, FairQueue[tuple[str, list[str]]]] = {k: FairQueue() for k in KINDS}
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        runners = {"retrain": 1, "batch": batch_parallel}
        self._threads = [threading.Thread(target=self._worker, args=(k,), name=f"sqmy-jobs-{k}-{n}", daemon=True)
                         for k in KINDS for n in range(runners[k])]
        self._interrupted_on_start()
        for thread in self._threads:
            thread.start()

    # ---- queries -------------------------------------------------------------------------------------------
    def directory(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self.db.connect() as conn:
            row = conn.execute(select(Job).where(Job.id == job_id)).mappings().first()
        return self._view(dict(row)) if row else None

    def recent(self, kind: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = select(Job).order_by(Job.created_at.desc()).limit(limit)
        if kind:
            query = query.where(Job.kind == kind)
        with self.db.connect() as conn:
            return [self._view(dict(r)) for r in conn.execute(query).mappings()]

    def active(self, kind: str) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = conn.execute(select(Job).where(Job.kind == kind, Job.status.in_(("queued", "running")))
                                .order_by(Job.created_at)).mappings().all()
        return [self._view(dict(r)) for r in rows]

    def _view(self, row: dict[str, Any]) -> dict[str, Any]:
        progress = read_json(self.directory(row["id"]) / "progress.json") or {}
        if row["status"] == "succeeded" and progress.get("total"):
            progress["done"] = progress["total"]
        return {"id": row["id"], "kind": row["kind"], "status": row["status"], "params": row["params"],
                "progress": progress, "result": row["result"], "error": row["error"],
                "created_by": row["created_by"], "created_at": _iso(row["created_at"]),
                "started_at": _iso(row["started_at"]), "finished_at": _iso(row["finished_at"])}

    # ---- commands ------------------------------------------------------------------------------------------
    def new_id(self, kind: str) -> str:
        """A fresh job id whose directory exists (callers may put input files there before ``submit``)."""
        job_id = f"{kind}-{datetime.now():%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
        self.directory(job_id).mkdir(parents=True, exist_ok=True)
        return job_id

    def submit(self, kind: str, params: dict[str, Any], argv: ArgvBuilder, actor: str,
               job_id: str | None = None) -> dict[str, Any]:
        """Record the job and queue it."""
        job_id = job_id or self.new_id(kind)
        directory = self.directory(job_id)
        with transaction(self.db) as conn:
            conn.execute(insert(Job).values(id=job_id, kind=kind, status="queued", params=params, created_by=actor,
                                            created_at=now()))
            audit(conn, actor, f"job.{kind}.submit", job_id, params=params)
        self._queues[kind].put(actor, (job_id, argv(directory)))
        return self.get(job_id) or {}

    def cancel(self, job_id: str, actor: str) -> dict[str, Any] | None:
        job = self.get(job_id)
        if job is None or job["status"] in FINISHED:
            return job
        with self._lock:
            self._cancelled.add(job_id)
            process = self._processes.get(job_id)
        if process is not None:  # the job's whole process group (it was started in a session of its own)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        else:  # still queued: the worker skips it
            self._finish(job_id, "cancelled", error="已取消")
        audit(self.db, actor, "job.cancel", job_id)
        return self.get(job_id)

    def close(self) -> None:
        """Stop the workers; running subprocesses are terminated and marked as interrupted."""
        for q in self._queues.values():
            q.close()
        with self._lock:
            processes = dict(self._processes)
        for job_id, process in processes.items():
            self._cancelled.add(job_id)
            process.terminate()
        for thread in self._threads:
            thread.join(timeout=15)

    # ---- running -------------------------------------------------------------------------------------------
    def _interrupted_on_start(self) -> None:
        with transaction(self.db) as conn:
            conn.execute(update(Job).where(Job.status.in_(("queued", "running")))
                         .values(status="failed", error="服务重启，任务中断（可重新提交）", finished_at=now()))

    def _worker(self, kind: str) -> None:
        jobs = self._queues[kind]
        while (entry := jobs.get()) is not None:
            owner, (job_id, argv) = entry
            try:
                if job_id not in self._cancelled:
                    self._run(job_id, argv)
            except Exception as exc:  # a job must never take its worker down
                log.exception("job %s crashed", job_id)
                self._finish(job_id, "failed", error=f"{type(exc).__name__}: {exc}")
            finally:
                jobs.done(owner)

    def _run(self, job_id: str, argv: list[str]) -> None:
        directory = self.directory(job_id)
        with transaction(self.db) as conn:
            conn.execute(update(Job).where(Job.id == job_id).values(status="running", started_at=now()))
        with open(directory / "log.txt", "wb") as log_file:
            process = subprocess.Popen([sys.executable, "-m", "sqmy", *argv], env=self.env, stdout=log_file,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            with self._lock:
                self._processes[job_id] = process
            code = process.wait()
            with self._lock:
                self._processes.pop(job_id, None)
        summary = read_json(directory / "summary.json")
        if job_id in self._cancelled:
            self._finish(job_id, "cancelled", result=summary, error="已取消")
        elif code == 0:
            self._finish(job_id, "succeeded", result=summary)
        else:
            text = (directory / "log.txt").read_text(encoding="utf-8", errors="replace")
            self._finish(job_id, "failed", result=summary, error=failure_message(text, code))

    def _finish(self, job_id: str, status: str, *, result: Any = None, error: str | None = None) -> None:
        with transaction(self.db) as conn:
            conn.execute(update(Job).where(Job.id == job_id)
                         .values(status=status, result=result, error=error, finished_at=now()))
        job = self.get(job_id)
        if self.on_finished and job:
            try:
                self.on_finished(job)
            except Exception:
                log.exception("on_finished hook failed for %s", job_id)


def subprocess_env(home: Path, database_url: str) -> dict[str, str]:
    """The service's environment with its home and database spelled out for the child."""
    return os.environ | {"SQMY_HOME": str(Path(home).resolve()), "SQMY_DATABASE_URL": database_url,
                         "PYTHONUNBUFFERED": "1"}
