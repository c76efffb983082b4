"""Hot reload: follow the registry's pointers and swap newly promoted models into the running router.

A promotion (through the API, the CLI, or a retraining job, in this process or another) only rewrites
``current.json``; every service process notices within ``SQMY_RELOAD_SECONDS``, loads the new version beside the
old one and swaps it in atomically. Requests already holding the old engine finish on it; none fail."""

from __future__ import annotations

import logging
import threading
from typing import Any

from models import ModelRegistry, load_engine
from models.base import Doc
from service.metrics import Metrics
from service.routing import Router

log = logging.getLogger(__name__)

ENGINES = ("tfidf", "bert")


class ModelWatcher:
    def __init__(self, router: Router, registry: ModelRegistry, metrics: Metrics, *, ensemble: bool,
                 interval: float) -> None:
        self.router, self.registry, self.metrics = router, registry, metrics
        self.ensemble, self.interval = ensemble, interval
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

    def sync(self, engines: tuple[str, ...] = ENGINES) -> dict[str, Any]:
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
                    engine = load_engine(self.registry.path(wanted))
                    engine.predict_proba([Doc(text="预热", title="")])
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
                from service.state import ensemble_of

                for name, engine in ensemble_of(self.router.engines).items():
                    self.router.swap(name, engine)
        return changed
