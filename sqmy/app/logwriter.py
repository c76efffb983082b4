"""The classification log's inserts in a process of their own: the serving process builds each batch's rows and
hands them over a pipe; the writer process commits them (SQLite's B-tree and full-text index work, SQLAlchemy's
statement handling) and answers once they are committed, so the log keeps its guarantees (an idle server's
classification is committed before it is acknowledged; ``barrier`` still means committed) while that work stops
taking the serving process's CPU and GIL. When the writer cannot be started or dies, the batch is written in
process instead (logged) and the next batch starts a new writer."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from sqmy.app.storage import WriterUnavailableError
from sqmy.core.processes import name_process

log = logging.getLogger(__name__)
MAX_STARTS = 20  # writers started by one log at most: a writer that keeps dying leaves the writing in process


def _serve(url: str, conn: Connection) -> None:
    """The writer process: commit each batch received, answer ``None`` or the error; leave on ``None`` or when
    the serving process is gone (the pipe closes)."""
    from sqlalchemy import insert

    from sqmy.app.storage import Classification, make_engine, transaction

    name_process("sqmy-log-writer")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle; it closes the pipe
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the server stops it after the last batch
    engine = make_engine(url)
    conn.send("ready")
    while True:
        try:
            rows = conn.recv()
        except (EOFError, OSError):
            return
        if rows is None:
            return
        try:
            with transaction(engine) as db:
                db.execute(insert(Classification), rows)
        except Exception as exc:  # the engine hides parameters: the message carries no citizen's text
            conn.send(f"{type(exc).__name__}: {exc}")
        else:
            conn.send(None)


class LogWriter:
    """The writer process of one ``ClassificationLog`` (used from its single writer thread only). It is started
    at once; until it is ready (imports take a second or more) batches are written in process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.starts = 0
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._ready = False
        self._start()

    def _start(self) -> None:
        if self.starts > MAX_STARTS:
            return
        self.starts += 1
        try:
            context = multiprocessing.get_context("spawn")
            mine, theirs = context.Pipe()
            process = context.Process(target=_serve, args=(self.url, theirs), name="sqmy-log-writer", daemon=True)
            process.start()
            theirs.close()
        except Exception:
            log.exception("could not start the log writer process; the classification log writes in process")
            return
        self._process, self._conn, self._ready = process, mine, False

    def _usable(self) -> Connection:
        """The pipe to a started writer; ``WriterUnavailableError`` while it is starting or when it is gone (the
        next batch starts another, at most ``MAX_STARTS`` times)."""
        if self._conn is None or self._process is None or not self._process.is_alive():
            self.close()
            self._start()
            raise WriterUnavailableError("not running")
        if not self._ready:
            try:
                if not self._conn.poll(0):
                    raise WriterUnavailableError("starting")
                self._ready = self._conn.recv() == "ready"
            except (EOFError, OSError) as exc:
                self.close()
                raise WriterUnavailableError(f"died starting ({type(exc).__name__})") from exc
        return self._conn

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Commit ``rows`` in the writer process; ``WriterUnavailableError`` when it cannot (write them in process),
        ``RuntimeError`` when the database refused them."""
        conn = self._usable()
        try:
            conn.send(rows)
            reply = conn.recv()
        except (EOFError, OSError) as exc:
            self.close()
            raise WriterUnavailableError(f"died ({type(exc).__name__})") from exc
        if reply is not None:
            raise RuntimeError(reply)

    def close(self) -> None:
        """Stop the writer after the batch it is committing."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(None)
            conn.close()
        if process is not None:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
