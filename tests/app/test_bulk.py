"""The bulk lane: big requests routed in a worker process give the answers the serving process gives, follow a
promotion, and survive a worker that dies."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import psutil
import pytest

from sqmy.app.bulk import BulkLane
from sqmy.app.knowledge import DirectoryKnowledge
from sqmy.app.policy import RoutingPolicy
from sqmy.app.routing import Router
from sqmy.app.serving import ServingRouter
from sqmy.core.config import Settings
from sqmy.core.labels import LabelSpace
from sqmy.models import ModelRegistry
from sqmy.models.base import Doc
from sqmy.models.tfidf import TfidfEngine
from sqmy.training.data import corpus_files, load_items
from sqmy.training.train import train_and_register

TEXTS = ["小区3栋门口的路灯坏了一个多月，晚上出门很不安全，请尽快维修。联系电话13812345678。",
         "青溪市白沙镇幸福村的垃圾好几天没人清运，臭气熏天，身份证号110101199003071234。",
         "某某路上的餐馆油烟直排，楼上居民没法开窗，希望环保部门查处。",
         "学校门口早晚高峰堵车严重，建议增设红绿灯和交警疏导。"]


def docs(n: int) -> list[Doc]:
    return [Doc(text=f"{TEXTS[i % len(TEXTS)]}第{i}条。" * 3, title=f"留言{i}" if i % 2 else "") for i in range(n)]


def router_for(settings: Settings, labels: LabelSpace, engine: TfidfEngine) -> Router:
    """The router the service builds from ``settings`` (policy, directory knowledge), serving ``engine``."""
    return Router({"tfidf": engine}, RoutingPolicy.from_settings(settings),
                  DirectoryKnowledge.from_directory(labels.directory, settings.DUTY_PRIOR_WEIGHT))


def worker_pids() -> set[int]:
    """The bulk workers: this process's children started by multiprocessing's spawn (the resource tracker is not
    one, nor a server a session fixture of this pytest process started, e.g. in a pytest-xdist worker)."""
    return {p.pid for p in psutil.Process().children()
            if "multiprocessing.spawn" in (cmdline := " ".join(p.cmdline())) and "resource_tracker" not in cmdline}


async def classify(serving: ServingRouter, batch: list[Doc], **kwargs: object) -> list[object]:
    serving.start()
    try:
        return await serving.classify(batch, engine="tfidf", **kwargs)  # type: ignore[arg-type]
    finally:
        await serving.stop()


@pytest.mark.parametrize("facts", [True, False])
def test_a_big_request_gets_from_the_worker_exactly_the_answers_of_the_serving_process(
        trained_home: Path, labels: LabelSpace, tfidf_engine: TfidfEngine, facts: bool) -> None:
    settings = Settings(HOME=trained_home)
    router = router_for(settings, labels, tfidf_engine)
    batch = docs(40)
    fallbacks: list[None] = []
    lane = BulkLane(settings, 1, on_fallback=lambda: fallbacks.append(None))
    pids: set[int] = set()

    async def scenario() -> list[object]:
        serving = ServingRouter(router, max_batch=64, wait_seconds=0.0, bulk=lane, bulk_chars=1_000)
        serving.start()
        try:
            answers = await serving.classify(batch, engine="tfidf", facts=facts)
            pids.update(worker_pids())
            return answers
        finally:
            await serving.stop()

    in_worker = asyncio.run(scenario())
    in_process = router.run(tfidf_engine, batch, None, facts)
    assert in_worker == in_process
    assert all((s.facts is not None) == facts for s in in_process)
    assert not fallbacks
    assert len(pids) == 1 and os.getpid() not in pids
    assert not worker_pids()  # stopped with the service


def test_a_request_under_the_budget_stays_in_process(trained_home: Path, labels: LabelSpace,
                                                     tfidf_engine: TfidfEngine) -> None:
    settings = Settings(HOME=trained_home)
    lane = BulkLane(settings, 1)
    serving = ServingRouter(router_for(settings, labels, tfidf_engine), max_batch=64, wait_seconds=0.0, bulk=lane,
                            bulk_chars=100_000)
    answers = asyncio.run(classify(serving, docs(3)))
    assert len(answers) == 3
    assert lane._pool is None  # no worker was started for it


def test_a_promoted_version_is_what_the_worker_answers_with(home: Path, labels: LabelSpace,
                                                            tiny_corpus_dir: Path) -> None:
    settings = Settings(HOME=home)
    registry = ModelRegistry(settings.models_dir)
    old = TfidfEngine.load(registry.path(registry.current("tfidf")))
    router = router_for(settings, labels, old)
    lane = BulkLane(settings, 1)

    async def scenario() -> tuple[str, str]:
        serving = ServingRouter(router, max_batch=64, wait_seconds=0.0, bulk=lane, bulk_chars=0)
        serving.start()
        try:
            before = (await serving.classify(docs(2), engine="tfidf"))[0]
            items = load_items(corpus_files(tiny_corpus_dir), labels).items
            train_and_register("tfidf", items, registry, eval_fraction=0.0, log=lambda _m: None, promote=True)
            new = TfidfEngine.load(registry.path(registry.current("tfidf")))
            router.swap("tfidf", new)  # what the model watcher does on a promotion
            lane.preload([new])
            after = (await serving.classify(docs(2), engine="tfidf"))[0]
            return before.model_version, after.model_version  # type: ignore[attr-defined]
        finally:
            await serving.stop()

    before, after = asyncio.run(scenario())
    assert before == old.version
    assert after == registry.current("tfidf") != old.version


def test_a_worker_that_dies_loses_no_request(trained_home: Path, labels: LabelSpace,
                                            tfidf_engine: TfidfEngine) -> None:
    settings = Settings(HOME=trained_home)
    router = router_for(settings, labels, tfidf_engine)
    fallbacks: list[None] = []
    lane = BulkLane(settings, 1, on_fallback=lambda: fallbacks.append(None))
    batch = docs(20)

    async def scenario() -> tuple[list[object], list[object]]:
        serving = ServingRouter(router, max_batch=64, wait_seconds=0.0, bulk=lane, bulk_chars=0)
        serving.start()
        try:
            await serving.classify(batch, engine="tfidf")
            for pid in worker_pids():
                os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.5)
            during = await serving.classify(batch, engine="tfidf")  # answered in process
            after = await serving.classify(batch, engine="tfidf")  # a new worker
            return during, after
        finally:
            await serving.stop()

    during, after = asyncio.run(scenario())
    expected = router.run(tfidf_engine, batch)
    assert during == expected and after == expected
    assert len(fallbacks) == 1


class AsBert:
    """The TF-IDF engine under BERT's name (a BERT stand-in that needs no encoder)."""

    name, version = "bert", "bert-standin"

    def __init__(self, tfidf: TfidfEngine) -> None:
        self.tfidf = tfidf

    def __getattr__(self, attr: str) -> object:
        return getattr(self.tfidf, attr)


def test_bert_work_stays_in_the_serving_process(trained_home: Path, labels: LabelSpace,
                                                tfidf_engine: TfidfEngine) -> None:
    settings = Settings(HOME=trained_home)
    router = router_for(settings, labels, tfidf_engine)
    router.swap("bert", AsBert(tfidf_engine))  # type: ignore[arg-type]
    lane = BulkLane(settings, 1)

    async def scenario() -> list[object]:
        serving = ServingRouter(router, max_batch=64, wait_seconds=0.0, bulk=lane, bulk_chars=0)
        serving.start()
        try:
            return await serving.classify(docs(10), engine="bert")
        finally:
            await serving.stop()

    answers = asyncio.run(scenario())
    assert [a.engine for a in answers] == ["bert"] * 10  # type: ignore[attr-defined]
    assert lane._pool is None  # the worker was never started for it
