"""The router as the HTTP service uses it: asynchronous, one micro-batcher per engine (TF-IDF never waits behind
BERT), and ``auto``'s latency budget: past it, or on an error, the fallback engine answers instead."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from functools import partial

from sqmy.app.batcher import MicroBatcher
from sqmy.app.bulk import BulkLane
from sqmy.app.results import Suggestion
from sqmy.app.routing import Router
from sqmy.models.base import Doc, Engine

Job = tuple[Doc, int | None, bool | None]  # (document, top_k, facts)
log = logging.getLogger(__name__)
CHUNK_CHARS = 20_000  # work per batch: a few tens of ms of TF-IDF with facts on 2 cores (docs/BENCHMARKS.md)
BULK_CHUNK_CHARS = 100_000  # work per call into the bulk worker (nothing waits behind it there)


def chunks(docs: Sequence[Doc], max_chars: int) -> list[Sequence[Doc]]:
    """``docs`` cut into runs of at most ``max_chars`` characters (title and text; at least one document each)."""
    out: list[Sequence[Doc]] = []
    start, size = 0, 0
    for i, doc in enumerate(docs):
        length = len(doc.title) + len(doc.text)
        if i > start and size + length > max_chars:
            out.append(docs[start:i])
            start, size = i, 0
        size += length
    if start < len(docs):
        out.append(docs[start:])
    return out


class ServingRouter:
    """``await classify(docs, engine=..., top_k=...)``: what ``Router.classify`` answers, batched across requests.

    ``on_fallback(reason)`` is called when ``auto`` answers with the fallback ("timeout" or "error"). With a
    ``bulk`` lane, a TF-IDF request of more than ``bulk_chars`` characters is routed in its worker process."""

    def __init__(self, router: Router, *, max_batch: int, wait_seconds: float,
                 on_fallback: Callable[[str], None] = lambda _reason: None, chunk_chars: int = CHUNK_CHARS,
                 bulk: BulkLane | None = None, bulk_chars: int = CHUNK_CHARS) -> None:
        self.router, self.max_batch, self.wait_seconds = router, max_batch, wait_seconds
        self.chunk_chars = chunk_chars
        self.bulk, self.bulk_chars = bulk, bulk_chars
        self.on_fallback = on_fallback
        self._batchers: dict[str, MicroBatcher[Job]] = {}
        self._started = False

    def start(self) -> None:
        self._started = True
        for batcher in self._batchers.values():
            batcher.start()

    async def stop(self) -> None:
        for batcher in self._batchers.values():
            await batcher.stop()
        if self.bulk is not None:
            await asyncio.to_thread(self.bulk.close)

    def _batcher(self, name: str) -> MicroBatcher[Job]:
        """The batcher of engine ``name``; each batch runs on whatever engine of that name is loaded then."""
        if name not in self._batchers:
            batcher: MicroBatcher[Job] = MicroBatcher(lambda jobs: self._run(name, jobs), max_batch=self.max_batch,
                                                      wait_seconds=self.wait_seconds)
            if self._started:
                batcher.start()
            self._batchers[name] = batcher
        return self._batchers[name]

    def _run(self, name: str, jobs: list[Job]) -> list[Suggestion | Exception]:
        """One batch of one engine, grouped by top-k and facts; an engine error becomes every job's result."""
        engine = self.router.engines.get(name)
        results: list[Suggestion | Exception] = [RuntimeError(f"引擎 {name} 已卸载")] * len(jobs)
        if engine is None:
            return results
        groups: dict[tuple[int | None, bool | None], list[int]] = {}
        for i, (_doc, top_k, facts) in enumerate(jobs):
            groups.setdefault((top_k, facts), []).append(i)
        for (top_k, facts), rows in groups.items():
            try:
                out: Sequence[Suggestion | Exception] = self.router.run(engine, [jobs[i][0] for i in rows], top_k,
                                                                        facts)
            except Exception as exc:
                log.exception("%s engine failed on a batch of %d", name, len(rows))
                out = [exc] * len(rows)
            for i, result in zip(rows, out, strict=True):
                results[i] = result
        return results

    def lane_for(self, docs: Sequence[Doc]) -> BulkLane | None:
        """The bulk lane when ``docs`` are big enough to go there (``bulk_chars``), else ``None``."""
        if self.bulk is None or sum(len(d.title) + len(d.text) for d in docs) <= self.bulk_chars:
            return None
        return self.bulk

    async def _submit(self, engine: Engine, docs: Sequence[Doc], top_k: int | None,
                      facts: bool | None = None) -> list[Suggestion | Exception]:
        """A TF-IDF request of more than ``bulk_chars`` characters through the bulk lane (in chunks of
        ``BULK_CHUNK_CHARS``, spread over its workers), any other in process."""
        # TF-IDF only: BERT's encoder runs outside the GIL already, and a BERT chunk running in the worker would
        # hold up `auto`'s TF-IDF fallback behind it
        bulk = self.lane_for(docs) if engine.name == "tfidf" else None
        if bulk is None:
            return await self._in_process(engine, docs, top_k, facts)
        parts = await asyncio.gather(*(
            bulk.run(engine, chunk, top_k, facts, partial(self._in_process, engine, chunk, top_k, facts))
            for chunk in chunks(docs, BULK_CHUNK_CHARS)))
        return [result for part in parts for result in part]

    async def _in_process(self, engine: Engine, docs: Sequence[Doc], top_k: int | None,
                          facts: bool | None = None) -> list[Suggestion | Exception]:
        """Through the engine's batcher, a big request as chunks of ``CHUNK_CHARS`` one after the other: requests
        that arrive meanwhile join the next batch, so they wait for one chunk, not for the whole request."""
        batcher = self._batcher(engine.name)
        results: list[Suggestion | Exception] = []
        for chunk in chunks(docs, self.chunk_chars):
            results += await batcher.submit([(doc, top_k, facts) for doc in chunk])
        return results

    async def classify(self, docs: Sequence[Doc], *, engine: str = "auto", top_k: int | None = None,
                       facts: bool | None = None) -> list[Suggestion | Exception]:
        """Per document, its suggestion or the exception that stopped it (``EngineUnavailableError`` is raised);
        ``facts``: extract the facts inside each body (default: the routing policy's)."""
        chosen, fallback = self.router.plan(engine)
        if fallback is None:
            return await self._submit(chosen, docs, top_k, facts)
        try:
            results = await asyncio.wait_for(self._submit(chosen, docs, top_k, facts),
                                             self.router.policy.bert_budget_s)
        except TimeoutError:  # the batcher skips the cancelled jobs if they have not started yet
            self.on_fallback("timeout")
            return await self._submit(fallback, docs, top_k, facts)
        failed = [i for i, r in enumerate(results) if isinstance(r, Exception)]
        if failed:
            self.on_fallback("error")
            retried = await self._submit(fallback, [docs[i] for i in failed], top_k, facts)
            for i, result in zip(failed, retried, strict=True):
                results[i] = result
        return results
