"""Micro-batching: concurrent requests are gathered for a few milliseconds and predicted together,
which amortises the vectorizer and model overhead across requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

Job = TypeVar("Job")


class MicroBatcher(Generic[Job]):
    """``await submit(jobs)`` returns ``fn(jobs)``'s results, computed in a worker thread together with the
    jobs of other requests that arrived within ``wait_seconds`` (at most ``max_batch`` jobs per call)."""

    def __init__(self, fn: Callable[[list[Job]], list[Any]], *, max_batch: int = 64, wait_seconds: float = 0.002):
        self.fn, self.max_batch, self.wait_seconds = fn, max_batch, wait_seconds
        self._queue: asyncio.Queue[tuple[Sequence[Job], asyncio.Future[list[Any]]]] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._worker())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def submit(self, jobs: Sequence[Job]) -> list[Any]:
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        await self._queue.put((jobs, future))
        return await future

    async def _worker(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            pending = [await self._queue.get()]
            size = len(pending[0][0])
            deadline = loop.time() + self.wait_seconds
            while size < self.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0 and self._queue.empty():
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), max(timeout, 0))
                except TimeoutError:
                    break
                pending.append(item)
                size += len(item[0])
            pending = [(batch, future) for batch, future in pending if not future.done()]  # cancelled: skipped
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
