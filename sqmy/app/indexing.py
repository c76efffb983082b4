"""The similarity index fed by a process of its own: the serving process does no per-request indexing.

Every classification the service accepts is a row of the classification log; the **indexer** process (one per
``SQMY_HOME``, however many servers and uvicorn workers share it: it holds ``similar/indexer.lock``, which names
its pid) tails those rows and writes them to the index's store (``sqmy.app.similar.feed``), from a persisted
watermark, so rows accepted while it was down are indexed when it is back. Each server supervises it: it starts
one when no process holds the lock, restarts it when it dies, and indexes in a thread of its own when the process
cannot be started or keeps dying (logged). A lookup (``flush``) first waits for the rows accepted so far to be
committed, feeds whatever the indexer has not reached yet itself, and takes the new items into its graph: a
lookup sees every item classified before it, and the graph catches up only when lookups come."""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.process import BaseProcess
from pathlib import Path

from sqlalchemy.engine import Engine as DbEngine

from sqmy.app.similar.feed import LogFeed
from sqmy.app.similar.meaning import MeaningFiller, MeaningGraph, open_encoder
from sqmy.app.similar.service import SimilarService
from sqmy.app.similar.store import FORMAT, ItemStore
from sqmy.app.similar.vectors import Projection
from sqmy.core.config import Settings
from sqmy.core.locks import try_lock
from sqmy.core.processes import name_process

log = logging.getLogger(__name__)
POLL_SECONDS = 0.2  # how often the indexer looks for new rows when it has caught up
SUPERVISE_SECONDS = 1.0  # how often a server checks that an indexer runs for its home
MAX_CRASHES, CRASH_WINDOW_S = 5, 60.0  # more crashes than this within the window: index in process instead
BARRIER_WAIT_S = 30.0  # a lookup waits this long for the classification log's queued rows to be committed


def lock_path(settings: Settings) -> Path:
    return settings.similar_dir / "indexer.lock"


def indexer_running(path: Path) -> bool:
    """Whether some process (of any server on this home) holds the indexer lock."""
    handle = try_lock(path)
    if handle is None:
        return True
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()
    return False


def tail(feed: LogFeed, stop: threading.Event, alive: Callable[[], bool] = lambda: True,
         filler: MeaningFiller | None = None) -> None:
    """Feed the store from the log until ``stop`` is set or ``alive()`` turns false; whenever it has caught up,
    embed a batch of stored items by meaning (``filler``), so that indexing never waits for the encoder."""
    while not stop.is_set() and alive():
        try:
            full = feed.feed_once() >= feed.batch
        except Exception:
            log.exception("the similarity indexer could not feed the index; trying again")
            full = False
        embedded = 0
        if filler is not None and not full:
            try:
                embedded = filler.step()
            except Exception:  # the index keeps working without embeddings (round 4's scores)
                log.exception("the similarity indexer could not embed items by meaning; it stops embedding")
                filler = None
        if not full and not embedded:
            stop.wait(POLL_SECONDS)


def close_filler(filler: MeaningFiller | None) -> None:
    """Save the graph by meaning as the indexer stops (a failure is logged: the next start reads the log)."""
    if filler is None:
        return
    try:
        filler.close()
    except Exception:
        log.exception("the similarity indexer could not save its graph by meaning")


def _open_feed(settings: Settings, stop: threading.Event) -> LogFeed | None:
    """The indexer's feed, once the server has the projection fitted and the store in the current format."""
    from sqmy.app.storage import make_engine

    directory = settings.similar_dir
    projection = Projection.load(directory / "projection")
    while projection is None and not stop.wait(1.0):
        projection = Projection.load(directory / "projection")
    if projection is None:
        return None
    store = ItemStore(directory / "items.db")
    while store.format != FORMAT and not stop.wait(1.0):  # a server re-derives an older store first
        pass
    return LogFeed(make_engine(settings.database_url), directory, projection, store)


def indexer_main(settings: Settings, parent: int) -> None:
    """The indexer process: takes the lock (or leaves at once when another indexer holds it), then tails the log
    until SIGTERM or until the server that started it is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    logging.basicConfig(level=settings.LOG_LEVEL.upper())
    lock = try_lock(lock_path(settings))
    if lock is None:
        return
    name_process("sqmy-indexer")
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    feed = _open_feed(settings, stop)
    if feed is not None:
        log.info("similarity indexer %d feeding from classification %d", os.getpid(), feed.watermark())
        encoder = open_encoder(settings.similar_dir) if settings.SIMILAR_MEANING else None
        filler = (MeaningFiller(feed.store, encoder, MeaningGraph(settings.similar_dir)) if encoder is not None
                  else None)
        tail(feed, stop, alive=lambda: os.getppid() == parent, filler=filler)
        close_filler(filler)


class FedSimilarService(SimilarService):
    """The service's similarity index, fed from the classification log by the indexer process (see the module).
    ``barrier()``: a future done once every classification row accepted so far is committed."""

    def __init__(self, settings: Settings, db: DbEngine, barrier: Callable[[], Future[None]]) -> None:
        super().__init__(settings)
        self.db, self.barrier = db, barrier
        self.in_process = False  # True once the indexer could not be kept running (the feed runs in a thread)
        self._feed: LogFeed | None = None
        self._feed_lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._crashes: list[float] = []
        self._stop = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name="sqmy-similar-indexer", daemon=True)

    def start(self) -> None:
        super().start()
        self._supervisor.start()

    def feed(self) -> LogFeed | None:
        """This process's feed of the open index (``None`` while it is not open)."""
        with self._feed_lock:
            if self._feed is None and self.index is not None:
                self._feed = LogFeed(self.db, self.settings.similar_dir, self.index.projection, self.index.store)
            return self._feed

    def _supervise(self) -> None:
        while not self._ready.wait(1.0):
            if self._stop.is_set():
                return
        feed = self.feed()
        while feed is not None and not self._stop.is_set():
            if not self._keep_indexer():
                log.error("the similarity indexer process cannot be kept running; indexing in the server process")
                self.in_process = True
                tail(feed, self._stop)
                return
            self._stop.wait(SUPERVISE_SECONDS)

    def _keep_indexer(self) -> bool:
        """Start an indexer when none runs for this home (restarting ours when it died); ``False`` when it cannot
        be started or died more than ``MAX_CRASHES`` times within ``CRASH_WINDOW_S``."""
        process = self._process
        if process is not None and process.is_alive():
            return True
        if process is not None:
            self._process = None
            if process.exitcode != 0:  # 0: another indexer held the lock
                log.warning("the similarity indexer %s exited (%s); starting another", process.pid,
                            process.exitcode)
                now = time.monotonic()
                self._crashes = [t for t in self._crashes if now - t < CRASH_WINDOW_S] + [now]
                if len(self._crashes) > MAX_CRASHES:
                    return False
        if indexer_running(lock_path(self.settings)):
            return True
        try:
            process = multiprocessing.get_context("spawn").Process(
                target=indexer_main, args=(self.settings, os.getpid()), name="sqmy-similar-indexer", daemon=True)
            process.start()
        except Exception:
            log.exception("could not start the similarity indexer process")
            return False
        self._process = process
        return True

    def flush(self) -> None:
        """Block until every item classified (and every verdict indexed) before this call is in the store and in
        this process's graph."""
        super().flush()
        self.barrier().result(timeout=BARRIER_WAIT_S)
        feed = self.feed()
        if feed is not None and self.index is not None:
            feed.catch_up()
            self.index.sync(force=True)

    def close(self) -> None:
        self._stop.set()
        process, self._process = self._process, None
        if process is not None and process.is_alive():
            process.terminate()
            process.join(timeout=10)
        if self._supervisor.is_alive():
            self._supervisor.join(timeout=30)
        super().close()


def indexer_pid(settings: Settings) -> int | None:
    """The pid of the process holding this home's indexer lock (``None`` when none does)."""
    if not indexer_running(lock_path(settings)):
        return None
    try:
        return int(lock_path(settings).read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None
