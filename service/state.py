"""What the running service holds: settings, labels, engines, storage. Built once in the lifespan."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy.engine import Engine as DbEngine

from sqmy.app.auth import auth_enabled
from sqmy.app.bootstrap import BertBuilder
from sqmy.app.bulk import BulkLane
from sqmy.app.indexing import FedSimilarService
from sqmy.app.jobs import JobManager, subprocess_env
from sqmy.app.knowledge import DirectoryKnowledge
from sqmy.app.logwriter import LogWriter
from sqmy.app.metrics import Metrics
from sqmy.app.policy import RoutingPolicy
from sqmy.app.reload import ModelWatcher
from sqmy.app.retention import DailyPrune, Retention
from sqmy.app.routing import Router
from sqmy.app.serving import ServingRouter
from sqmy.app.similar.service import SimilarService
from sqmy.app.storage import ClassificationLog, make_engine
from sqmy.core.config import Settings, ensemble_bert_budget
from sqmy.core.labels import LabelSpace, load_label_space
from sqmy.models import ModelRegistry


def bulk_lane(settings: Settings, metrics: Metrics) -> BulkLane | None:
    """The worker processes for big requests (SQMY_BULK_WORKERS; none when 0)."""
    if not settings.BULK_WORKERS:
        return None
    return BulkLane(settings, settings.BULK_WORKERS, on_fallback=lambda: metrics.errors.labels("bulk_fallback").inc())


@dataclass
class AppState:
    settings: Settings
    labels: LabelSpace
    registry: ModelRegistry
    router: Router
    db: DbEngine
    classification_log: ClassificationLog
    serving: ServingRouter
    metrics: Metrics
    watcher: ModelWatcher
    jobs: JobManager
    builder: BertBuilder
    auth: bool
    pruner: DailyPrune | None = None  # removes old classifications and job files daily when a retention is set
    similar: SimilarService | None = None  # the similarity index (SQMY_SIMILAR=on), fed by the indexer process

    @classmethod
    def build(cls, settings: Settings, metrics: Metrics) -> AppState:
        labels = load_label_space(settings.TAXONOMY_PATH, settings.DIRECTORY_PATH)
        registry = ModelRegistry(settings.models_dir)
        # TF-IDF loads in a moment and serves at once; BERT joins when the watcher has loaded it (until then
        # `auto` answers with TF-IDF), so the service starts in seconds whatever is promoted.
        router = Router({}, RoutingPolicy.from_settings(settings),
                        DirectoryKnowledge.from_directory(labels.directory, settings.DUTY_PRIOR_WEIGHT))
        bulk = bulk_lane(settings, metrics)
        watcher = ModelWatcher(router, registry, metrics, ensemble=settings.ENSEMBLE,
                               interval=settings.RELOAD_SECONDS, cascade=settings.CASCADE_THRESHOLD,
                               bert_budget=ensemble_bert_budget(settings),
                               on_change=lambda engines: bulk.preload(list(engines.values())) if bulk else None)
        watcher.sync(("tfidf",))
        db = make_engine(settings.database_url)
        serving = ServingRouter(router, max_batch=settings.MAX_BATCH_SIZE, wait_seconds=settings.BATCH_WAIT_MS / 1000,
                                on_fallback=lambda reason: metrics.errors.labels(f"auto_fallback_{reason}").inc(),
                                bulk=bulk, bulk_chars=settings.BULK_CHARS)
        jobs = JobManager(db, settings.jobs_dir, subprocess_env(settings.HOME, settings.database_url),
                          on_finished=watcher.on_job_finished, batch_parallel=settings.BATCH_JOBS_PARALLEL)
        classification_log = ClassificationLog(db, writer=LogWriter(settings.database_url))
        return cls(settings, labels, registry, router, db, classification_log, serving, metrics, watcher, jobs,
                   BertBuilder(settings, registry, jobs), auth_enabled(settings.AUTH, settings.HOST),
                   DailyPrune(db, settings.jobs_dir, Retention.from_settings(settings),
                              similar_dir=settings.similar_dir),
                   FedSimilarService(settings, db, classification_log.barrier) if settings.SIMILAR == "on" else None)

    def start(self) -> None:
        if self.settings.FACTS:  # the gazetteer and the number libraries load now, not on the first request
            threading.Thread(target=self.router.facts, args=("电话13800000000，青溪市",), daemon=True,
                             name="sqmy-facts-warmup").start()
        self.watcher.start()
        self.serving.start()
        self.builder.start()
        if self.pruner:
            self.pruner.start()
        if self.similar:
            self.similar.start()

    async def stop(self) -> None:
        self.builder.stop()
        self.watcher.stop()
        if self.pruner:
            self.pruner.stop()
        self.jobs.close()
        await self.serving.stop()
        self.classification_log.close()
        if self.similar:
            self.similar.close()
        self.db.dispose()
