"""MicroBatcher: concurrent submissions share one call; cancelled ones are skipped; errors reach every caller."""

import asyncio

import pytest

from sqmy.app.batcher import MicroBatcher


def test_concurrent_submissions_are_computed_together():
    calls: list[list[int]] = []

    def double(jobs):
        calls.append(list(jobs))
        return [j * 2 for j in jobs]

    async def scenario():
        batcher = MicroBatcher(double, max_batch=64, wait_seconds=0.05)
        batcher.start()
        out = await asyncio.gather(*(batcher.submit([n, n + 100]) for n in range(5)))
        await batcher.stop()
        return out

    out = asyncio.run(scenario())
    assert out == [[2 * n, 2 * (n + 100)] for n in range(5)]
    assert sum(len(c) for c in calls) == 10 and len(calls) < 5


def test_cancelled_submissions_are_not_computed():
    seen: list[int] = []

    async def scenario():
        batcher = MicroBatcher(lambda jobs: seen.extend(jobs) or list(jobs), max_batch=64, wait_seconds=0.2)
        batcher.start()
        keep = asyncio.ensure_future(batcher.submit([1]))
        drop = asyncio.ensure_future(batcher.submit([2]))
        await asyncio.sleep(0.01)
        drop.cancel()  # while the batcher is still gathering
        result = await keep
        await batcher.stop()
        return result

    assert asyncio.run(scenario()) == [1]
    assert seen == [1]


def test_an_error_reaches_every_waiting_caller():
    def fail(_jobs):
        raise ValueError("模型坏了")

    async def scenario():
        batcher = MicroBatcher(fail, max_batch=8, wait_seconds=0.05)
        batcher.start()
        results = await asyncio.gather(batcher.submit([1]), batcher.submit([2]), return_exceptions=True)
        await batcher.stop()
        return results

    results = asyncio.run(scenario())
    assert len(results) == 2 and all(isinstance(r, ValueError) for r in results)
    with pytest.raises(RuntimeError, match="start"):
        asyncio.run(MicroBatcher(fail).submit([1]))
