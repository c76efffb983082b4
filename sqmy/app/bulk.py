"""The bulk lane: big requests scored in a separate worker process, so that a maximal batch does not take the
serving process's GIL (jieba, numpy and fact extraction hold it) from the single items beside it. The service
sends TF-IDF work here (``ServingRouter``); the worker can load any engine a spec names.

The worker loads the same model versions from the registry (named per request, so a promotion reaches it with
the next bulk request, or at once through ``preload``), routes with the same policy and directory knowledge, and
returns the same ``Suggestion`` objects the in-process path builds. Anything that goes wrong in the lane (the
worker died, a version could not be loaded) is logged and the work is done in process instead: the caller gets
its answer either way."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import signal
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ClassVar

from sqmy.app.knowledge import DirectoryKnowledge
from sqmy.app.policy import RoutingPolicy
from sqmy.app.results import Suggestion
from sqmy.app.routing import Router
from sqmy.app.storage import StoredFields, stored_fields
from sqmy.core.config import Settings, ensemble_bert_budget
from sqmy.core.labels import load_label_space
from sqmy.core.processes import exit_with_parent, name_process
from sqmy.models import ModelRegistry, load_engine
from sqmy.models.base import Doc, Engine

log = logging.getLogger(__name__)
Spec = tuple[str, tuple[tuple[str, str], ...]]  # (engine name, ((member name, version), ...))
Texts = list[tuple[str, str]]  # (title, text) per document: cheaper to send than Doc objects


def spec_of(engine: Engine) -> Spec:
    """What the worker needs to load ``engine``: its name and the versions of its members (itself, or the
    ensemble's BERT and TF-IDF)."""
    members: Sequence[Engine] = getattr(engine, "members", None) or (engine,)
    return engine.name, tuple((m.name, m.version) for m in members)


class _Worker:
    """The worker process's state: the router, and the engines loaded so far (one version per name)."""

    router: Router | None = None
    registry: ModelRegistry | None = None
    cascade: float | None = None  # SQMY_CASCADE_THRESHOLD, as the serving process's ensemble
    bert_budget: tuple[int, int] | None = None  # BERT's token budget inside auto, as the serving process's
    loaded: ClassVar[dict[str, Engine]] = {}


def _init(settings: Settings) -> None:
    """Worker start-up: the routing policy and directory knowledge of ``settings``, facts warmed up. Ctrl-C is the
    serving process's to handle (it stops the worker); a killed server's worker leaves by itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    name_process("sqmy-bulk")
    exit_with_parent()
    logging.basicConfig(level=settings.LOG_LEVEL.upper())
    labels = load_label_space(settings.TAXONOMY_PATH, settings.DIRECTORY_PATH)
    _Worker.router = Router({}, RoutingPolicy.from_settings(settings),
                            DirectoryKnowledge.from_directory(labels.directory, settings.DUTY_PRIOR_WEIGHT))
    _Worker.registry = ModelRegistry(settings.models_dir)
    _Worker.cascade, _Worker.bert_budget = settings.CASCADE_THRESHOLD, ensemble_bert_budget(settings)
    if settings.FACTS:
        _Worker.router.facts("电话13800000000，青溪市")


def _engine(spec: Spec) -> Engine:
    """The engine of ``spec``, loading (and warming up) any member version not loaded yet."""
    assert _Worker.registry is not None
    name, members = spec
    engines = []
    for member, version in members:
        engine = _Worker.loaded.get(member)
        if engine is None or engine.version != version:
            engine = load_engine(_Worker.registry.path(version))
            engine.predict_proba([Doc(text="预热", title="")])
            _Worker.loaded[member] = engine
            gc.collect()
            gc.freeze()  # the model's objects leave the collector's young generations, as in the server
        engines.append(engine)
    if name == "ensemble":
        from sqmy.app.reload import ensemble_of

        pooled = ensemble_of({e.name: e for e in engines}, _Worker.cascade, _Worker.bert_budget)
        return pooled["ensemble"]
    return engines[0]


def _run(spec: Spec, texts: Texts, top_k: int | None, facts: bool | None) -> list[Suggestion]:
    """In the worker: what ``Router.run`` answers for these documents."""
    assert _Worker.router is not None
    docs = [Doc(text=text, title=title) for title, text in texts]
    return _Worker.router.run(_engine(spec), docs, top_k, facts)


def _stored(items: list[tuple[str | None, str, str]], raw: bool) -> list[StoredFields]:
    """In the worker: the stored fields (item key, masked title and text) of classification log rows."""
    return [stored_fields(item_id, title, text, raw=raw) for item_id, title, text in items]


def _preload(specs: list[Spec]) -> list[str]:
    """In the worker: load the new versions of ``specs`` now (a promotion swapped them in), so the next bulk
    request does not wait for them. Only TF-IDF and engines this worker has served: BERT is loaded on the first
    bulk request that asks for it, not by every worker of every site."""
    wanted = [(name, members) for name, members in specs
              if all(m == "tfidf" or m in _Worker.loaded for m, _version in members)]
    return [_engine(spec).version for spec in wanted]


class BulkLane:
    """``await run(engine, docs, top_k, facts)``: ``Router.run`` in a worker process (``SQMY_BULK_WORKERS``
    of them), or in process (``fallback``) when the lane fails. Started lazily; ``close()`` stops the workers."""

    def __init__(self, settings: Settings, workers: int,
                 on_fallback: Callable[[], None] = lambda: None) -> None:
        self.settings, self.workers, self.on_fallback = settings, workers, on_fallback
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("bulk lane closed")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_init, initargs=(self.settings,))
            return self._pool

    def preload(self, engines: Sequence[Engine]) -> None:
        """Start the workers if they are not running, and have them load the new versions of these engines (a
        promotion swapped them in; TF-IDF and engines they served before), without waiting."""
        try:
            pool = self._executor()
            for _ in range(self.workers):
                pool.submit(_preload, [spec_of(e) for e in engines]).add_done_callback(self._log_failure)
        except Exception:
            log.exception("could not start the bulk worker; bulk requests run in process")

    @staticmethod
    def _log_failure(future: Future[list[str]]) -> None:
        if not future.cancelled() and future.exception() is not None:
            log.error("the bulk worker could not load a model: %s", future.exception())

    def _reset(self, pool: ProcessPoolExecutor) -> None:
        """A worker died: the next bulk request starts a new pool."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    async def run(self, engine: Engine, docs: Sequence[Doc], top_k: int | None, facts: bool | None,
                  fallback: Callable[[], Awaitable[list[Suggestion | Exception]]]) -> list[Suggestion | Exception]:
        """The suggestions of ``docs`` computed in a worker; ``await fallback()`` (in process) when the lane
        cannot answer."""
        pool: ProcessPoolExecutor | None = None
        try:
            pool = self._executor()
            future = pool.submit(_run, spec_of(engine), [(d.title, d.text) for d in docs], top_k, facts)
            suggestions: list[Suggestion] = await asyncio.wrap_future(future)
            return list(suggestions)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, BrokenProcessPool) and pool is not None:
                self._reset(pool)
            if not self._closed:
                log.error("bulk worker failed (%s: %s); running %d items in process", type(exc).__name__, exc,
                          len(docs))
            self.on_fallback()
            return await fallback()

    def stored(self, items: list[tuple[str | None, str, str]], raw: bool) -> Future[list[StoredFields]] | None:
        """The stored fields of these items' log rows, ``(id, title, text)`` each, computed in a worker (masking
        and hashing 5 million characters takes seconds of the GIL); ``None`` when the lane is not running."""
        try:
            return self._executor().submit(_stored, items, raw)
        except Exception as exc:
            log.warning("bulk lane unavailable for log rows (%s)", type(exc).__name__)
            return None

    def close(self) -> None:
        """Stop the workers: queued work is cancelled, work in progress finishes (one chunk)."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
