"""A queue shared fairly between owners: runners take turns between the owners who wait, so one owner's long
run of jobs does not keep everyone else's waiting."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    """Items of many owners for several runner threads. An owner has at most ``per_owner`` items being run; the
    next item goes to the owner whose last turn is longest ago (an owner who never had one first, in order of
    arrival), its own items in order. ``get`` blocks; after ``close`` it answers ``None``."""

    def __init__(self, per_owner: int = 1) -> None:
        self.per_owner = per_owner
        self._cond = threading.Condition()
        self._waiting: dict[str, deque[tuple[int, T]]] = {}
        self._running: Counter[str] = Counter()
        self._last_turn: dict[str, int] = {}
        self._counter = 0
        self._closed = False

    def put(self, owner: str, item: T) -> None:
        with self._cond:
            self._counter += 1
            self._waiting.setdefault(owner, deque()).append((self._counter, item))
            self._cond.notify_all()

    def get(self) -> tuple[str, T] | None:
        """The next ``(owner, item)``; call ``done(owner)`` when it has been run."""
        with self._cond:
            while not self._closed:
                owner = self._next_owner()
                if owner is not None:
                    _, item = self._waiting[owner].popleft()
                    if not self._waiting[owner]:
                        del self._waiting[owner]
                    self._running[owner] += 1
                    self._counter += 1
                    self._last_turn[owner] = self._counter
                    return owner, item
                self._cond.wait()
            return None

    def done(self, owner: str) -> None:
        with self._cond:
            self._running[owner] -= 1
            if self._running[owner] <= 0:
                del self._running[owner]
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _next_owner(self) -> str | None:
        ready = [o for o in self._waiting if self._running[o] < self.per_owner]
        if not ready:
            return None
        return min(ready, key=lambda o: (self._last_turn.get(o, 0), self._waiting[o][0][0]))
