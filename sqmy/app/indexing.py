"""Feeding the similarity index in batches: the service's classifications are handed to the index a few times a
second, many at once, instead of one request at a time (each ``SimilarIndex.add`` call has a fixed cost: a
transaction, a sync, an ANN insertion call), so indexing costs the serving process less per request."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from sqmy.app.similar.service import SimilarService
from sqmy.app.similar.store import Entry
from sqmy.core.config import Settings

FEED_SECONDS = 0.25  # how long an entry may wait before it is handed to the index
FEED_ENTRIES = 256  # handed over at once when this many are waiting


class BatchedSimilarService(SimilarService):
    """A ``SimilarService`` whose ``add`` gathers entries and hands them over every ``interval`` seconds (or at
    ``max_entries``); ``flush`` and ``close`` hand over what is waiting first, so a lookup still sees every item
    classified before it."""

    def __init__(self, settings: Settings, *, interval: float = FEED_SECONDS, max_entries: int = FEED_ENTRIES) -> None:
        super().__init__(settings)
        self.interval, self.max_entries = interval, max_entries
        self._waiting: list[Entry] = []
        self._waiting_lock = threading.Lock()
        self._stop_feeding = threading.Event()
        self._feeder = threading.Thread(target=self._feed, name="sqmy-similar-feed", daemon=True)

    def start(self) -> None:
        super().start()
        self._feeder.start()

    def _feed(self) -> None:
        while not self._stop_feeding.wait(self.interval):
            self._hand_over()

    def _hand_over(self) -> None:
        with self._waiting_lock:
            entries, self._waiting = self._waiting, []
        super().add(entries)

    def add(self, entries: Sequence[Entry]) -> None:
        with self._waiting_lock:
            self._waiting.extend(entries)
            full = len(self._waiting) >= self.max_entries
        if full:
            self._hand_over()

    def flush(self) -> None:
        self._hand_over()
        super().flush()

    def close(self) -> None:
        self._stop_feeding.set()
        self._hand_over()
        super().close()
