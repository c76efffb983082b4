"""The retraining view (模型管理 → 重新训练) in headless Chromium against a real server: honest stages, a running
job that survives leaving the page, 取消 that stops it without registering anything, and after a finished job
the gate report (per class before/after) and the new version in the detail card; axe at 1280 and 390 px."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server
from tests.web.conftest import axe_violations, shot


def versions(server) -> list[str]:
    return [m["version"] for m in httpx.get(f"{server.url}/v1/models", timeout=10).json()["data"]]


def start_retrain(page, server, promote: str) -> None:
    page.goto(f"{server.url}/#/models")
    page.wait_for_selector("#retrain-form")
    page.select_option("#retrain-engine", "tfidf")
    page.select_option("#retrain-promote", promote)
    page.click("#retrain-btn")
    page.wait_for_selector("#retrain-steps")


@pytest.fixture
def stuck_server(web_home: Path, tiny_corpus_dir: Path, tmp_path):
    """A corpus with a FIFO in it: reading the training data waits until the job is cancelled."""
    home, corpus = tmp_path / "home", tmp_path / "corpus"
    shutil.copytree(web_home, home)
    shutil.copytree(tiny_corpus_dir, corpus)
    os.mkfifo(corpus / "zz-waits.jsonl")
    srv = Server(home, SQMY_AUTH="off", SQMY_CORPUS_DIR=str(corpus))
    yield srv
    srv.stop()


def test_a_running_retrain_stays_visible_and_cancel_registers_nothing(stuck_server, page):
    before = versions(stuck_server)
    start_retrain(page, stuck_server, "never")
    page.wait_for_selector("#retrain-steps li.current:has-text('读取数据')")
    assert "无法估计剩余时间" in page.inner_text("#retrain-stats")  # no invented ETA
    page.keyboard.press("Alt+4")  # leave the page …
    page.wait_for_selector("#queue-filters")
    page.keyboard.press("Alt+3")  # … and come back: the job is still there, with its cancel button
    page.wait_for_selector("#retrain-cancel")
    assert "读取数据" in page.inner_text("#retrain-steps li.current")
    page.click("#retrain-cancel")
    page.wait_for_selector("#h-retrain-job [data-status=cancelled]")
    assert "未登记新版本" in page.inner_text("#retrain-error")
    job = httpx.get(f"{stuck_server.url}/v1/jobs?kind=retrain", timeout=10).json()["data"][0]
    assert job["status"] == "cancelled"
    assert versions(stuck_server) == before
    assert not list((stuck_server.home / "models").glob(".staging-*"))


@pytest.fixture(scope="module")
def train_server(web_home: Path, tiny_corpus_dir: Path, tmp_path_factory):
    home = tmp_path_factory.mktemp("retrain-home")
    shutil.copytree(web_home, home, dirs_exist_ok=True)
    srv = Server(home, SQMY_AUTH="off", SQMY_CORPUS_DIR=str(tiny_corpus_dir))
    yield srv
    srv.stop()


def test_a_finished_retrain_shows_the_gate_report_and_the_new_version(train_server, page):
    before = set(versions(train_server))
    start_retrain(page, train_server, "force")
    page.wait_for_selector("#h-retrain-job [data-status=succeeded]", timeout=180_000)
    new = (set(versions(train_server)) - before).pop()
    page.wait_for_selector("#gate-report .gate-report")
    report = page.inner_text("#gate-report")
    assert new in report and "发布检查" in report and "已" in report
    assert page.locator("#gate-report table tbody tr").count() >= 1 or "当前没有已上线" in report
    assert "发布前" in report and "发布后" in report
    page.wait_for_selector(f"#h-detail:has-text('{new}')")
    assert page.inner_text("#current-tfidf") == new
    assert page.locator("#retrain-steps li.done").count() == 5
    shot(page, "models-retrain")
    page.goto(f"{train_server.url}/#/queue")
    page.goto(f"{train_server.url}/#/models")
    page.wait_for_selector("#gate-report .gate-report")  # the last result is still shown after coming back


@pytest.mark.parametrize("width", [1280, 390])
def test_models_view_at_desktop_and_phone_width(train_server, page, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{train_server.url}/#/models")
    page.wait_for_selector("#models-table")
    page.wait_for_selector("#h-detail")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert axe_violations(page) == []
    if width == 390:
        shot(page, "models-phone")
