"""Loading promoted models from the registry, and hot reload: follow the registry's pointers and swap newly
promoted models into the running router.

A promotion (through the API, the CLI, or a retraining job, in this process or another) only rewrites
``current.json``; every service process notices within ``SQMY_RELOAD_SECONDS``, loads the new version beside the
old one and swaps it in atomically. Requests already holding the old engine finish on it; none fail."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqmy.app.routing import Router
from sqmy.core.config import TRAINABLE_ENGINES
from sqmy.models import ModelRegistry, load_engine
from sqmy.models.base import Doc, Engine

if TYPE_CHECKING:
    from sqmy.app.metrics import Metrics  # prometheus_client: not imported by the CLI

log = logging.getLogger(__name__)



def load_warm(registry: ModelRegistry, version: str) -> Engine:
    """Load a stored version and run one prediction, so the first request does not pay for lazy set-up."""
    engine = load_engine(registry.path(version))
    engine.predict_proba([Doc(text="预热", title="")])
    return engine


def ensemble_of(engines: dict[str, Engine], cascade: float | None = None,
                bert_budget: tuple[int, int] | None = None) -> dict[str, Engine]:
    """``{"ensemble": BERT pooled with TF-IDF}`` when both are in ``engines``, else nothing; ``cascade``
    (SQMY_CASCADE_THRESHOLD) overrides the BERT model's stored cascade threshold; ``bert_budget``
    (``ensemble_bert_budget``: tokens per item, of them from the item's end) caps the tokens BERT reads there."""
    if not {"bert", "tfidf"} <= set(engines):
        return {}
    from sqmy.models.ensemble import EnsembleEngine

    bert = engines["bert"]
    capped = getattr(bert, "with_budget", None)
    if bert_budget is not None and capped is not None:
        bert = capped(*bert_budget)
    return {"ensemble": EnsembleEngine(members=[bert, engines["tfidf"]], cascade=cascade)}


def load_current_engines(registry: ModelRegistry, *, ensemble: bool = False,
                         names: tuple[str, ...] = TRAINABLE_ENGINES,
                         cascade: float | None = None,
                         bert_budget: tuple[int, int] | None = None) -> dict[str, Engine]:
    """Every engine in ``names`` that has a promoted version, loaded and warmed up; with ``ensemble`` and both BERT
    and TF-IDF loaded, also their average (which ``auto`` then prefers; ``cascade``, ``bert_budget``: see
    ``ensemble_of``)."""
    engines: dict[str, Engine] = {}
    for name in names:
        version = registry.current(name)
        if version is None:
            continue
        try:
            engines[name] = load_warm(registry, version)
        except Exception:
            log.exception("could not load %s model %s; continuing without it", name, version)
    if ensemble:
        engines |= ensemble_of(engines, cascade, bert_budget)
    return engines


class ModelWatcher:
    def __init__(self, router: Router, registry: ModelRegistry, metrics: Metrics, *, ensemble: bool,
                 interval: float, cascade: float | None = None, bert_budget: tuple[int, int] | None = None,
                 on_change: Callable[[dict[str, Engine]], None] = lambda _engines: None) -> None:
        """``on_change(engines)`` is called with the router's engines after each swap (the bulk lane loads them)."""
        self.router, self.registry, self.metrics = router, registry, metrics
        self.ensemble, self.interval, self.cascade, self.on_change = ensemble, interval, cascade, on_change
        self.bert_budget = bert_budget
        self._failed: dict[str, str] = {}  # engine → version that failed to load (not retried until it changes)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sqmy-model-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            try:
                self.sync()
            except Exception:
                log.exception("model watcher failed; retrying")
            if self._stop.wait(self.interval):
                return

    def on_job_finished(self, _job: dict[str, Any]) -> None:
        """A finished job may have promoted a model: look now rather than at the next interval."""
        self.sync()

    def sync(self, engines: tuple[str, ...] = TRAINABLE_ENGINES) -> dict[str, Any]:
        """Load and swap in every promoted version that is not the one being served; returns what changed."""
        changed: dict[str, Any] = {}
        with self._lock:
            for name in engines:
                wanted = self.registry.current(name)
                loaded = self.router.engines.get(name)
                if wanted is None or (loaded is not None and loaded.version == wanted):
                    continue
                if self._failed.get(name) == wanted:
                    continue
                try:
                    engine = load_warm(self.registry, wanted)
                except Exception:
                    log.exception("could not load %s model %s; keeping %s", name, wanted,
                                  loaded.version if loaded else "none")
                    self._failed[name] = wanted
                    continue
                self.router.swap(name, engine)
                if loaded is not None:
                    self.metrics.model.labels(name, loaded.version).set(0)
                self.metrics.model.labels(name, wanted).set(1)
                changed[name] = {"from": loaded.version if loaded else None, "to": wanted}
                log.info("now serving %s model %s", name, wanted)
            if changed and self.ensemble:
                for name, engine in ensemble_of(self.router.engines, self.cascade, self.bert_budget).items():
                    self.router.swap(name, engine)
        if changed:
            self.on_change(self.router.engines)
        return changed
