"""Micro-batching: concurrent requests are gathered for a few milliseconds and predicted together,
which amortises the vectorizer and model overhead across requests."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

Job = TypeVar("Job")


class MicroBatcher(Generic[Job]):
    """``await submit(jobs)`` returns ``fn(jobs)``'s results, computed in a worker thread together with the
    jobs of other requests that arrived within ``wait_seconds`` (at most ``max_batch`` jobs per call, or one
    submission's jobs when they alone are more).

    Submissions wait in a plain deque; the gathering task sleeps on one future per batch (woken by the first
    submission, then by the deadline or a full batch), so a request costs an append and a future, not a queue
    task and a timeout of its own (docs/BENCHMARKS.md, #18 round 6)."""

    def __init__(self, fn: Callable[[list[Job]], list[Any]], *, max_batch: int = 64, wait_seconds: float = 0.002):
        self.fn, self.max_batch, self.wait_seconds = fn, max_batch, wait_seconds
        self._pending: deque[tuple[Sequence[Job], asyncio.Future[list[Any]]]] = deque()
        self._size = 0  # jobs in _pending
        self._wake: asyncio.Future[None] | None = None  # what the gathering task sleeps on
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._worker())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def submit(self, jobs: Sequence[Job]) -> list[Any]:
        if self._task is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending.append((jobs, future))
        self._size += len(jobs)
        if self._size >= self.max_batch or len(self._pending) == 1:
            self._wakeup()  # a first job to gather around, or a full batch
        return await future

    def _wakeup(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _sleep(self, seconds: float | None) -> None:
        """Until ``_wakeup`` (or ``seconds`` have passed, when given)."""
        loop = asyncio.get_running_loop()
        self._wake = loop.create_future()
        timer = loop.call_later(seconds, self._wakeup) if seconds is not None else None
        try:
            await self._wake
        finally:
            self._wake = None
            if timer is not None:
                timer.cancel()

    def _take(self) -> list[tuple[Sequence[Job], asyncio.Future[list[Any]]]]:
        """The next batch: the first submission, then more while the batch has fewer than ``max_batch`` jobs."""
        taken: list[tuple[Sequence[Job], asyncio.Future[list[Any]]]] = []
        size = 0
        while self._pending and (not taken or size < self.max_batch):
            jobs, future = self._pending.popleft()
            self._size -= len(jobs)
            taken.append((jobs, future))
            size += len(jobs)
        return [(jobs, future) for jobs, future in taken if not future.done()]  # cancelled: skipped

    async def _worker(self) -> None:
        while True:
            if not self._pending:
                await self._sleep(None)
            if self._size < self.max_batch and self.wait_seconds > 0:
                await self._sleep(self.wait_seconds)
            pending = self._take()
            if not pending:
                continue
            jobs = [job for batch, _ in pending for job in batch]
            try:
                results = await asyncio.to_thread(self.fn, jobs)
            except Exception as exc:  # every waiting request gets the error
                for _, future in pending:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for batch, future in pending:
                if not future.done():
                    future.set_result(results[start:start + len(batch)])
                start += len(batch)
