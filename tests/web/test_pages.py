"""The editors' web page end to end in headless Chromium against a real server (`sqmy serve`)."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server
from tests.web.conftest import classify_on_page, create_key, require, shot

ITEM = {"title": "路灯坏了", "text": "青石镇新民路路灯坏了半个月，晚上一片漆黑，老人出门摔倒了，请尽快维修路灯。"}




def pick(page, selector: str, query: str) -> None:
    """Keyboard only: type into a picker, ↓ to the first match, Enter."""
    page.focus(selector)
    page.keyboard.type(query)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")


def newest_feedback(server: Server, headers: dict[str, str] | None = None) -> dict:
    r = httpx.get(f"{server.url}/v1/feedback?limit=5", headers=headers or {}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"][0]


def test_classify_shows_result_evidence_and_shortcuts(open_server, page):
    page.goto(open_server.url)
    page.wait_for_selector("#item-text")
    assert page.title().startswith("分类与复核")
    assert "本地用户" in page.inner_text("#user-box")
    classify_on_page(page, **ITEM)
    assert page.inner_text("#topic-path").startswith("城乡建设")
    assert page.inner_text("#result-engine") == "tfidf"
    assert page.inner_text("#result-version").startswith("tfidf-")
    # one bar per level of the path (level 1, 2 and, when the model has it, 3)
    assert page.locator("#result-summary [role=meter]").count() == len(page.inner_text("#topic-path").split("›"))
    assert 1 <= page.locator("#alternatives li").count() <= 3
    assert page.locator("#departments .badge.lead").count() == 1
    flag = page.inner_text("#review-flag")
    assert "需人工复核" in flag or "无需复核" in flag
    if "需人工复核" in flag:
        assert page.locator("#review-reasons li").count() >= 1
    # the words that drove the decision are highlighted in the text
    page.wait_for_selector("#highlighted-text mark.hl.pos")
    marked = page.locator("#highlighted-text mark.hl.pos").all_inner_texts()
    assert any("路灯" in m for m in marked), marked
    assert "路灯" in page.inner_text("#top-words")
    assert "Ctrl+Enter" in page.inner_text("main") and "Alt+A" in page.inner_text("main")
    assert page.get_attribute("#accept-btn", "aria-keyshortcuts") == "Alt+A"
    assert page.get_attribute("#result-summary", "aria-live") == "polite"
    shot(page, "classify")


def test_correct_then_accept_by_keyboard_is_stored(open_server, page):
    require(open_server, "post /v1/feedback", "get /v1/feedback", "get /v1/classifications")
    page.goto(open_server.url)
    classify_on_page(page, **ITEM)
    page.keyboard.press("Alt+c")
    page.wait_for_selector("#fix-topic")
    assert page.evaluate("document.activeElement.id") == "fix-topic"
    pick(page, "#fix-topic", "教育文体 教育收费")
    assert page.input_value("#fix-topic") == "教育文体 / 教育收费"
    pick(page, "#fix-lead", "教体局")  # an alias of 市教育局
    assert page.input_value("#fix-lead") == "市教育局"
    pick(page, "#fix-assist-add", "城西")
    page.wait_for_selector("#fix-assists li")
    assert "城西街道" in page.inner_text("#fix-assists")
    page.fill("#fix-note", "网页测试纠正")
    shot(page, "correct")
    page.focus("#correction-submit")
    page.keyboard.press("Enter")
    page.wait_for_selector("#feedback-message.success")
    assert "已保存纠正" in page.inner_text("#feedback-message")

    fb = newest_feedback(open_server)
    assert fb["topic_path"] == ["教育文体", "教育收费"]
    assert {(d["name"], d["role"]) for d in fb["departments"]} >= {("市教育局", "lead"), ("城西街道", "assist")}

    page.click("#revise-btn")  # a verdict is revised explicitly: 修改, then accept the suggestion after all
    page.keyboard.press("Escape")
    page.keyboard.press("Alt+a")
    page.wait_for_function("document.querySelector('#feedback-message').textContent.includes('已采纳')")
    fb = newest_feedback(open_server)
    assert fb.get("action", "accept") == "accept" and fb["topic_path"][0] == "城乡建设"

    page.click("#recent-refresh")
    page.wait_for_selector("#recent-table")
    assert "已采纳" in page.inner_text("#recent-table tbody tr:first-child")
    shot(page, "recent")


def test_archive_upload_progress_and_download(open_server, page, tmp_path):
    require(open_server, "post /v1/batch-jobs", "get /v1/batch-jobs/{id}", "get /v1/batch-jobs/{id}/result")
    source = tmp_path / "archive.csv"
    with source.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["编号", "标题", "内容"])
        for n in range(40):
            title, text = ("路灯坏了", f"第{n}条：小区路灯坏了") if n % 2 else ("拖欠工资", "老板拖欠工资")
            writer.writerow([f"a{n}", title, text])
    page.goto(f"{open_server.url}/#/archive")
    page.set_input_files("#archive-file", str(source))
    page.fill("#archive-id-col", "编号")
    page.fill("#archive-title-col", "标题")
    page.fill("#archive-text-col", "内容")
    page.click("#archive-submit")
    page.wait_for_selector("#job-progress")
    finished = page.wait_for_selector(
        "#h-job [data-status=succeeded], #h-job [data-status=failed], #h-job [data-status=cancelled]", timeout=120_000)
    if finished.get_attribute("data-status") == "failed" and "unrecognized arguments" in page.inner_text("#job"):
        shot(page, "archive-failed")
        pytest.skip("#6 not merged on this branch yet: `sqmy batch` lacks --progress-file/--summary/--resume")
    assert finished.get_attribute("data-status") == "succeeded", page.inner_text("#job")
    page.wait_for_selector("#download-result")
    assert page.get_attribute("#job-progress", "value") == page.get_attribute("#job-progress", "max")
    assert "已处理 40 / 40" in page.inner_text("#job-stats")
    shot(page, "archive")
    with page.expect_download() as info:
        page.click("#download-result")
    saved = tmp_path / "routed.csv"
    info.value.save_as(saved)
    rows = list(csv.DictReader(saved.open(encoding="utf-8-sig")))
    assert len(rows) == 40 and rows[0]["预测分类"]  # Chinese headers for people (batch jobs use --headers zh)
    assert "已下载" in page.inner_text("#download-message")


def test_models_page_renders_charts(open_server, page):
    require(open_server, "get /v1/models", "get /v1/models/{version}")
    page.goto(f"{open_server.url}/#/models")
    page.wait_for_selector("#models-table")
    candidate = page.locator("#models-table tbody tr:not(.is-current)").first
    candidate.locator("button.link").click()
    page.wait_for_selector("#f1-chart rect.bar")
    assert page.locator("#f1-chart rect.bar").count() >= 2
    assert page.locator("#confusion-chart rect.cell").count() >= 4
    assert page.locator(".promote").count() >= 1  # auth off: the local user may do everything
    shot(page, "models")


@pytest.fixture(scope="module")
def auth_server(web_home: Path, tmp_path_factory):
    home = tmp_path_factory.mktemp("auth-home")
    subprocess.run(["cp", "-a", f"{web_home}/.", str(home)], check=True)
    srv = Server(home, SQMY_AUTH="on")
    yield srv
    srv.stop()


def login(page, server: Server, key: str) -> None:
    page.goto(server.url)
    page.wait_for_selector("#login-form")
    page.fill("#api-key", key)
    page.keyboard.press("Enter")
    page.wait_for_selector("#who")


def test_login_with_a_key(auth_server, page):
    require(auth_server, "get /v1/whoami")
    key = create_key(auth_server.home, "editor", "张三")
    page.goto(auth_server.url)
    page.wait_for_selector("#login-form")
    assert page.evaluate("document.activeElement.id") == "api-key"
    shot(page, "login")
    page.fill("#api-key", "sqmy-wrong-key")
    page.keyboard.press("Enter")
    page.wait_for_selector("#login-message.error")
    assert "无效" in page.inner_text("#login-message")

    login(page, auth_server, key)
    assert "张三" in page.inner_text("#who") and "编辑" in page.inner_text("#who")
    assert page.evaluate("sessionStorage.getItem('sqmy.apiKey')") == key
    classify_on_page(page, **ITEM)
    assert page.inner_text("#topic-path").startswith("城乡建设")

    # an editor sees the models but not the trainer's buttons
    page.goto(f"{auth_server.url}/#/models")
    page.wait_for_selector("#models-table")
    assert page.locator(".promote, #rollback-form, #promote-btn").count() == 0
    assert page.is_visible("#role-note")

    page.click("#logout")
    page.wait_for_selector("#login-form")
    assert page.evaluate("sessionStorage.getItem('sqmy.apiKey')") is None


def test_trainer_promotes_from_the_models_page(auth_server, page):
    require(auth_server, "get /v1/whoami", "get /v1/models", "post /v1/models/{version}/promote")
    key = create_key(auth_server.home, "trainer", "李四")
    login(page, auth_server, key)
    assert "训练员" in page.inner_text("#who")
    page.goto(f"{auth_server.url}/#/models")
    page.wait_for_selector("#models-table")
    assert page.is_visible("#rollback-form")
    version = page.locator("#models-table tbody tr:not(.is-current)").first.get_attribute("data-version")
    page.click(f"#models-table tr[data-version='{version}'] button.link")
    page.wait_for_selector("#f1-chart rect.bar")
    assert page.locator("#confusion-chart rect.cell").count() >= 4
    shot(page, "models-trainer")
    page.click("#promote-btn")
    page.wait_for_function(
        "document.querySelector('#force-promote') || document.querySelector('#models-message.success')")
    if page.locator("#force-promote").count():  # the gate refused: the report is shown, a trainer may force
        assert page.locator("#promote-report [role=alert]").count() == 1
        shot(page, "models-refused")
        page.click("#force-promote")
        page.wait_for_selector("#models-message.success")
    current = httpx.get(f"{auth_server.url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10).json()
    assert current["current"]["tfidf"] == version
    page.wait_for_selector(f"#models-table tr.is-current[data-version='{version}']")


def test_every_control_is_labelled_and_focus_is_visible(open_server, page):
    for view in ("#/", "#/archive", "#/models"):
        page.goto(f"{open_server.url}/{view}")
        page.wait_for_selector("main h1")
        unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
            .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                    && !el.getAttribute('aria-labelledby'))
            .map((el) => el.id || el.outerHTML)""")
        assert unlabelled == [], (view, unlabelled)
    page.goto(open_server.url)
    page.wait_for_selector("#item-text")
    assert page.evaluate("document.activeElement.id") == "item-text"  # ready to paste
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "item-title"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Alt+3")
    page.wait_for_selector("#h-models")
    assert page.evaluate("location.hash") == "#/models"


def test_banner_shows_the_bert_build_in_chinese_then_the_ensemble(page, home, tiny_corpus_dir, tmp_path):
    """A first start: the header says TF-IDF answers while BERT is being trained, then that the ensemble answers."""
    from tests.utils.tiny_bert import write_tiny_bert

    base = write_tiny_bert(tmp_path / "tiny-bert")
    srv = Server(home, SQMY_AUTH="off", SQMY_BERT="auto", SQMY_BERT_BASE=str(base),
                 SQMY_CORPUS_DIR=str(tiny_corpus_dir), SQMY_RELOAD_SECONDS="0.5", SQMY_GATE_MACRO_F1_DROP="1",
                 SQMY_GATE_CLASS_F1_DROP="1")
    try:
        page.goto(srv.url + "/")
        page.wait_for_selector("#engine-answering")
        banner = page.inner_text("#engine-status")
        assert "应答模型：TF-IDF" in banner and "BERT 模型" in banner  # training, or queued for it
        shot(page, "engine-building")
        page.wait_for_function(
            "document.querySelector('#engine-answering').textContent.includes('BERT + TF-IDF 组合模型')",
            timeout=240_000)
        assert "训练中" not in page.inner_text("#engine-status")
    finally:
        srv.stop()
