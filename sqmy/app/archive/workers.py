"""Local backends: classify chunks in this process, or in N worker processes that each load the model once.

The parent reads chunks and writes results; at most ``2 × workers`` chunks are in flight, so memory does not grow
with the input. Results come back in input order.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from multiprocessing.pool import AsyncResult
from typing import Any

from sqmy.app.archive.predictor import Predictor, PredictorSpec
from sqmy.app.archive.readers import Item
from sqmy.app.archive.rows import ChunkResult, Layout

_predictor: Predictor | None = None  # one per worker process
_load_error: Exception | None = None


def _init_worker(spec: PredictorSpec) -> None:
    # an initializer that raises makes the pool respawn workers forever: keep the error for the first task
    global _predictor, _load_error
    try:
        _predictor = spec.load()
    except Exception as exc:
        _load_error = exc


def _work(items: list[Item], layout: Layout) -> ChunkResult:
    if _predictor is None:
        raise RuntimeError(f"工作进程无法加载模型：{_load_error}")
    return _predictor.process(items, layout)


def run_inline(chunks: Iterable[list[Item]], layout: Layout, predictor: Predictor) -> Iterator[ChunkResult]:
    """Classify each chunk in this process."""
    for items in chunks:
        yield predictor.process(items, layout)


def run_pool(chunks: Iterable[list[Item]], layout: Layout, spec: PredictorSpec, workers: int) -> Iterator[ChunkResult]:
    """Classify chunks in ``workers`` spawned processes; yields results in input order."""
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads (torch, ORT)
    with context.Pool(workers, initializer=_init_worker, initargs=(spec,)) as pool:
        pending: deque[AsyncResult[Any]] = deque()
        for items in chunks:
            pending.append(pool.apply_async(_work, (items, layout)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
