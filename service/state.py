"""What the running service holds: settings, labels, engines, storage. Built once in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine as DbEngine

from models import ModelRegistry
from models.base import Doc
from service.auth import auth_enabled
from service.batcher import MicroBatcher
from service.jobs import JobManager, subprocess_env
from service.metrics import Metrics
from service.reload import ModelWatcher
from service.routing import Router, RoutingPolicy
from service.storage import ClassificationLog, make_engine
from sqmy.config import Settings
from sqmy.labels import LabelSpace, load_label_space

ClassifyJob = tuple[Doc, str, int]  # (doc, engine choice, top_k)


def run_jobs(router: Router, jobs: list[ClassifyJob]) -> list[Any]:
    """Classify a mixed batch, grouping jobs by engine and top-k; an engine error is returned per job."""
    results: list[Any] = [None] * len(jobs)
    groups: dict[tuple[str, int], list[int]] = {}
    for i, (_doc, engine, top_k) in enumerate(jobs):
        groups.setdefault((engine, top_k), []).append(i)
    for (engine, top_k), idx in groups.items():
        try:
            out = router.classify([jobs[i][0] for i in idx], engine=engine, top_k=top_k)
        except Exception as exc:
            out = [exc] * len(idx)
        for i, result in zip(idx, out, strict=True):
            results[i] = result
    return results


@dataclass
class AppState:
    settings: Settings
    labels: LabelSpace
    registry: ModelRegistry
    router: Router
    db: DbEngine
    classification_log: ClassificationLog
    batcher: MicroBatcher[ClassifyJob]
    metrics: Metrics
    watcher: ModelWatcher
    jobs: JobManager
    auth: bool

    @classmethod
    def build(cls, settings: Settings, metrics: Metrics) -> AppState:
        labels = load_label_space(settings.TAXONOMY_PATH, settings.DIRECTORY_PATH)
        registry = ModelRegistry(settings.models_dir)
        # TF-IDF loads in a moment and serves at once; BERT joins when the watcher has loaded it (until then
        # `auto` answers with TF-IDF), so the service starts in seconds whatever is promoted.
        router = Router({}, RoutingPolicy.from_settings(settings))
        watcher = ModelWatcher(router, registry, metrics, ensemble=settings.ENSEMBLE,
                               interval=settings.RELOAD_SECONDS)
        watcher.sync(("tfidf",))
        db = make_engine(settings.database_url)
        batcher: MicroBatcher[ClassifyJob] = MicroBatcher(
            lambda jobs: run_jobs(router, jobs), max_batch=settings.MAX_BATCH_SIZE,
            wait_seconds=settings.BATCH_WAIT_MS / 1000)
        jobs = JobManager(db, settings.jobs_dir, subprocess_env(settings.HOME, settings.database_url),
                          on_finished=lambda _job: watcher.sync())
        return cls(settings, labels, registry, router, db, ClassificationLog(db), batcher, metrics, watcher, jobs,
                   auth_enabled(settings.AUTH, settings.HOST))

    def start(self) -> None:
        self.watcher.start()
        self.batcher.start()

    async def stop(self) -> None:
        self.watcher.stop()
        self.jobs.close()
        await self.batcher.stop()
        self.classification_log.close()
        self.db.dispose()
