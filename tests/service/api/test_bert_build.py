"""`make run` on a site without BERT: the service answers with TF-IDF at once, builds BERT in a background job with
visible progress, and swaps `auto` to the ensemble without a failed request; a killed build leaves no model behind
and the next start builds it again."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import psutil
import pytest

from sqmy.models import ModelRegistry
from tests.conftest import Server
from tests.utils.tiny_bert import write_tiny_bert

TEXT = {"text": "小区门口的路灯坏了一个多月，晚上出行很不安全，请尽快维修"}


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


def building_server(home, tiny_corpus_dir, tiny_base) -> Server:
    # The gate's thresholds are opened: this is about the machinery; a random tiny encoder may not beat TF-IDF.
    return Server(home, SQMY_BERT="auto", SQMY_BERT_BASE=str(tiny_base), SQMY_CORPUS_DIR=str(tiny_corpus_dir),
                  SQMY_RELOAD_SECONDS="0.5", SQMY_GATE_MACRO_F1_DROP="1", SQMY_GATE_CLASS_F1_DROP="1")


def ready(server) -> dict:
    return httpx.get(f"{server.url}/readyz", timeout=30).json()


def wait(predicate, seconds=300, every=0.2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def test_bert_is_built_in_the_background_resumes_after_a_kill_and_swaps_auto_without_a_failed_request(
        home, tiny_corpus_dir, tiny_base):
    registry = ModelRegistry(home / "models")
    server = building_server(home, tiny_corpus_dir, tiny_base)
    try:
        first = httpx.post(f"{server.url}/v1/classify", json=TEXT, timeout=30).json()
        assert first["engine"] == "tfidf"  # answers at once, while BERT is being built
        job = wait(lambda: ready(server)["building"])[0]
        assert job["engine"] == "bert" and job["message"]
        wait(lambda: (home / "jobs" / job["job_id"] / "progress.json").is_file(), every=0.02)
        trainer = wait(lambda: [p for p in psutil.Process(server.process.pid).children(recursive=True)
                                if "retrain" in p.cmdline()])[0]
        os.kill(trainer.pid, signal.SIGKILL)
        finished = wait(lambda: [j for j in [httpx.get(f"{server.url}/v1/jobs/{job['job_id']}", timeout=30).json()]
                                 if j["status"] not in ("queued", "running")])[0]
        assert finished["status"] == "failed"
        assert registry.versions("bert") == []  # nothing half-written is listed
        assert ready(server)["answering"] == "tfidf"
    finally:
        server.stop()

    server = building_server(home, tiny_corpus_dir, tiny_base)  # the next start builds it again
    failures, engines, stop = [], [], threading.Event()

    def traffic():
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                r = client.post(f"{server.url}/v1/classify", json=TEXT)
                if r.status_code != 200:
                    failures.append(r.status_code)
                else:
                    engines.append(r.json()["engine"])
                stop.wait(0.05)  # steady traffic (~60 requests/s in all), not a busy loop starving the build of CPU

    threads = [threading.Thread(target=traffic) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        wait(lambda: ready(server)["building"])
        wait(lambda: [r for r in [ready(server)] if r.get("answering") == "ensemble"])
        # the int8 model loads in a fraction of a second, so the ensemble may answer while the job is still
        # closing (stage 完成); moments later nothing is left to build
        seen = wait(lambda: [r for r in [ready(server)] if r["building"] == []])[0]
        time.sleep(1)  # a little traffic on the ensemble too
        stop.set()
        for t in threads:
            t.join()
        assert seen["answering"] == "ensemble"
        assert not failures
        assert engines[0] == "tfidf" and engines[-1] == "ensemble"
        info = httpx.get(f"{server.url}/v1/info", timeout=30).json()
        assert info["answering"] == "ensemble" and {e["engine"] for e in info["engines"]} >= {"tfidf", "bert"}
        assert len(registry.versions("bert")) == 1
    finally:
        stop.set()
        server.stop()
    again = building_server(home, tiny_corpus_dir, tiny_base)  # a start with the models present: no rebuild
    try:
        assert ready(again)["building"] == []
        wait(lambda: ready(again)["answering"] == "ensemble")  # BERT loads beside TF-IDF, no training
        assert len(registry.versions("bert")) == 1
    finally:
        again.stop()
