"""The classify view's result card (#16): bound to its text, shortcuts that keep work, one verdict per press,
numbers that agree, extracted facts, phone width and accessibility — in headless Chromium against `sqmy serve`."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.conftest import Server
from tests.web.conftest import axe_violations, classify_on_page, shot

ITEM_A = {"title": "路灯坏了", "text": "青石镇新民路路灯坏了半个月，晚上一片漆黑，老人出门摔倒了，请尽快维修路灯。"}
ITEM_B = {"title": "拖欠工资", "text": "某建筑工地老板拖欠我们农民工三个月工资，多次讨要无果，请劳动部门帮忙追讨。"}


@pytest.fixture(scope="module")
def srv(open_server: Server) -> Server:
    return open_server


def feedback_rows(server: Server) -> list[dict]:
    r = httpx.get(f"{server.url}/v1/feedback?limit=1000", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def classify(page, title: str, text: str) -> None:
    """Classify on the page and wait until the new result is the active one."""
    classify_on_page(page, title, text)
    page.wait_for_function("!document.querySelector('#result').classList.contains('is-stale')")


def open_page(page, server: Server, width: int = 1280) -> None:
    page.set_viewport_size({"width": width, "height": 900 if width > 600 else 844})
    page.goto(server.url)
    page.wait_for_selector("#item-text")


def pick(page, selector: str, query: str) -> None:
    page.focus(selector)
    page.keyboard.type(query)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")


def accept_disabled(page) -> bool:
    return page.is_disabled("#accept-btn") and page.is_disabled("#correct-btn")


def test_a_failed_classify_makes_the_old_result_stale_and_nothing_is_stored(srv, page):
    """The issue's scenario: classify A, the server fails, paste B, Ctrl+Enter, Alt+A → nothing stored."""
    open_page(page, srv)
    before = len(feedback_rows(srv))
    classify(page, **ITEM_A)
    assert not accept_disabled(page)
    page.route("**/v1/classify", lambda route: route.fulfill(
        status=503, content_type="application/json",
        body=json.dumps({"error": "服务暂不可用", "error_type": "engine_unavailable"}, ensure_ascii=False)))
    page.fill("#item-title", ITEM_B["title"])
    page.fill("#item-text", ITEM_B["text"])
    page.focus("#item-text")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#classify-message.error")
    assert "分类失败" in page.inner_text("#classify-message")
    assert page.is_visible("#stale-note") and "已过期" in page.inner_text("#stale-note")
    assert accept_disabled(page)
    assert all(page.locator("#alternatives button").evaluate_all("els => els.map((e) => e.disabled)"))  # 改为此类
    page.keyboard.press("Alt+a")
    page.keyboard.press("Alt+c")
    assert page.is_hidden("#correction")
    page.wait_for_function("document.querySelector('#feedback-message').textContent.includes('已过期')")
    page.unroute("**/v1/classify")
    page.keyboard.press("Alt+a")  # the server is back: still nothing for a stale result
    assert len(feedback_rows(srv)) == before
    shot(page, "classify-stale")

    classify(page, **ITEM_B)  # re-classified: active again
    assert page.is_hidden("#stale-note") and not accept_disabled(page)


@pytest.mark.parametrize("how", ["edit", "load", "clear"])
def test_edit_load_and_clear_mark_the_result_stale(srv, page, how):
    open_page(page, srv)
    classify(page, **ITEM_A)
    if how == "edit":
        page.focus("#item-text")
        page.keyboard.type("另外")
    elif how == "load":
        page.wait_for_selector("#recent-table button.link")
        page.locator("#recent-table button.link").nth(1).click()
    else:
        page.click("#clear-btn")
    page.wait_for_selector("#stale-note:not([hidden])")
    assert accept_disabled(page)
    assert page.evaluate("document.querySelector('#result').classList.contains('is-stale')")


def test_alt_a_in_an_edited_correction_asks_and_keeps_the_correction(srv, page):
    open_page(page, srv)
    classify(page, **ITEM_A)
    before = len(feedback_rows(srv))
    page.keyboard.press("Alt+c")
    page.wait_for_selector("#fix-topic")
    pick(page, "#fix-topic", "教育文体 教育收费")
    page.keyboard.press("Alt+a")
    page.wait_for_selector("#correction-ask [role=alertdialog]")
    assert page.evaluate("document.activeElement.id") == "ask-submit"
    assert len(feedback_rows(srv)) == before  # nothing decided behind the editor's back
    assert page.input_value("#fix-topic") == "教育文体 / 教育收费"
    page.keyboard.press("Enter")  # the default answer: submit the correction
    page.wait_for_selector("#verdict-line")
    rows = feedback_rows(srv)
    assert len(rows) == before + 1
    assert rows[0]["action"] == "correct" and rows[0]["topic_path"] == ["教育文体", "教育收费"]


def correcting_to_education_fees(page, srv: Server) -> list[str]:
    """Classify item A, open the correction form and pick 教育文体 / 教育收费; the list collects every later
    /v1/classify request."""
    open_page(page, srv)
    classify(page, **ITEM_A)
    classified: list[str] = []
    page.on("request", lambda r: classified.append(r.url) if r.url.endswith("/v1/classify") else None)
    page.keyboard.press("Alt+c")
    page.wait_for_selector("#fix-topic")
    pick(page, "#fix-topic", "教育文体 教育收费")
    return classified


def test_ctrl_enter_in_the_text_asks_before_dropping_an_edited_correction(srv, page):
    classified = correcting_to_education_fees(page, srv)
    page.focus("#item-text")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#correction-ask [role=alertdialog]")
    assert "放弃纠正并重新分类" in page.inner_text("#correction-ask")
    page.click("#ask-stay")
    assert page.evaluate("document.activeElement.id") == "fix-topic"
    assert page.input_value("#fix-topic") == "教育文体 / 教育收费" and classified == []


def test_a_failed_verdict_is_retried_under_the_same_idempotency_key(srv, page):
    open_page(page, srv)
    classify(page, **ITEM_A)
    keys = []
    page.on("request", lambda r: keys.append(r.headers.get("idempotency-key"))
            if r.url.endswith("/v1/feedback") and r.method == "POST" else None)
    page.route("**/v1/feedback", lambda route: route.abort())
    page.keyboard.press("Alt+a")
    page.wait_for_selector("#feedback-message.error")
    assert "采纳失败" in page.inner_text("#feedback-message") and not page.is_disabled("#accept-btn")
    page.unroute("**/v1/feedback")
    page.keyboard.press("Alt+a")
    page.wait_for_selector("#verdict-line")
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0]


def test_ctrl_enter_in_the_note_submits_the_correction_not_a_new_classification(srv, page):
    classified = correcting_to_education_fees(page, srv)
    page.fill("#fix-note", "应由教育局处理")
    page.focus("#fix-note")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#verdict-line")
    row = feedback_rows(srv)[0]
    assert row["action"] == "correct" and row["note"] == "应由教育局处理"
    assert classified == []
    assert "已纠正" in page.inner_text("#verdict-line")


def test_accept_twice_sends_one_request_then_a_revision_is_a_new_verdict(srv, page):
    open_page(page, srv)
    classify(page, **ITEM_A)
    cid = page.evaluate("document.querySelector('#model-info').textContent").split("分类编号")[-1].strip()
    sent = []
    page.on("request", lambda r: sent.append(r) if r.url.endswith("/v1/feedback") and r.method == "POST" else None)
    page.evaluate("() => { const b = document.querySelector('#accept-btn'); b.click(); b.click(); }")
    page.keyboard.press("Alt+a")
    page.wait_for_selector("#verdict-line")
    page.keyboard.press("Alt+a")
    assert len(sent) == 1
    assert re.fullmatch(r"[0-9a-f]{32}", sent[0].headers.get("idempotency-key", ""))
    mine = [r for r in feedback_rows(srv) if r["classification_id"] == cid]
    assert len(mine) == 1 and mine[0]["action"] == "accept"
    line = page.inner_text("#verdict-line")
    assert "已采纳" in line and mine[0]["editor"] in line and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line)
    assert accept_disabled(page)

    page.click("#revise-btn")
    page.wait_for_selector("#fix-topic")
    pick(page, "#fix-topic", "教育文体 教育收费")
    page.click("#correction-submit")
    page.wait_for_function("document.querySelector('#verdict-line').textContent.includes('已纠正')")
    mine = [r for r in feedback_rows(srv) if r["classification_id"] == cid]
    assert [r["action"] for r in mine] == ["correct", "accept"]
    assert len(sent) == 2 and sent[1].headers["idempotency-key"] != sent[0].headers["idempotency-key"]
    page.wait_for_function("document.querySelector('#recent-table tbody tr') &&"
                           " document.querySelector('#recent-table tbody tr').textContent.includes('已纠正')")
    first = page.inner_text("#recent-table tbody tr:first-child")
    assert "教育文体 › 教育收费" in first and "模型：" in first
    assert all(t in ("需复核", "无需复核") for t in page.locator("#recent-table td[data-label=复核]").all_inner_texts())


def bar_values(page, scope: str) -> list[int]:
    return [int(v) for v in page.eval_on_selector_all(f"{scope} [role=meter]",
                                                        "els => els.map((e) => e.getAttribute('aria-valuenow'))")]


def test_real_result_shows_the_most_probable_first_and_reasons_quote_shown_numbers(srv, page):
    open_page(page, srv)
    for item in (ITEM_A, ITEM_B):
        classify(page, **item)
        levels = bar_values(page, "#topic-levels")
        alts = bar_values(page, "#alternatives")
        assert levels == sorted(levels, reverse=True)  # each level contains the next
        assert all(levels[0] >= a for a in alts), (levels, alts)
        numbers = page.inner_text("#topic-numbers")
        assert numbers.startswith(f"一级 {levels[0]}%")
        shown = set(bar_values(page, "#result"))
        for reason in page.locator("#review-reasons li").all_inner_texts():
            quoted = int(re.search(r"(\d+)%", reason).group(1))
            assert quoted in shown, (reason, shown)
    assert "主办可能性" in page.inner_text("#departments")
    assert "参与办理可能性" in page.inner_text("#unit-bars")


FAKE = {
    "classification_id": "c-fake", "topic": "城乡建设", "topic_path": ["城乡建设", "城市建设和市政管理", "路灯照明"],
    "topic_confidence": 0.36, "topic_path_confidence": 0.12,
    "topic_candidates": [
        {"topic": "城乡建设", "topic_path": ["城乡建设", "城市建设和市政管理", "路灯照明"], "confidence": 0.17},
        {"topic": "环境保护", "topic_path": ["环境保护", "环境污染"], "confidence": 0.19},
        {"topic": "城乡建设", "topic_path": ["城乡建设", "物业管理"], "confidence": 0.11}],
    "departments": [{"name": "市住房和城乡建设局", "role": "lead", "confidence": 0.28},
                    {"name": "青石镇", "role": "assist", "confidence": 0.61}],
    "department_candidates": [{"name": "市住房和城乡建设局", "confidence": 0.28, "involvement": 0.7}],
    "engine": "tfidf", "model_version": "tfidf-test", "needs_review": True,
    "review_reasons": ["一级分类“城乡建设”的可能性 36% 低于复核阈值 50%",
                       "主办单位“市住房和城乡建设局”的主办可能性 28% 低于复核阈值 40%"],
    "facts": [{"kind": "place", "text": "青石镇", "start": 0, "end": 3, "level": "town"},
              {"kind": "place", "text": "新民路", "start": 3, "end": 6, "level": "road"},
              {"kind": "phone", "text": "138****5678", "start": 40, "end": 51}],
}


def test_the_issues_numbers_are_labelled_by_level_with_level3_and_facts(srv, page):
    """A response shaped like the issue's (level 2 of an alternative above the chosen level 2) and with facts."""
    open_page(page, srv)
    page.route("**/v1/classify", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(FAKE, ensure_ascii=False)))
    classify(page, **ITEM_A)
    assert page.inner_text("#topic-path").replace(" ", "") == "城乡建设›城市建设和市政管理›路灯照明"
    assert page.inner_text("#topic-numbers").startswith("一级 36% · 二级 17% · 三级 12%")
    assert bar_values(page, "#topic-levels") == [36, 17, 12]
    assert max(bar_values(page, "#result")) <= 61 and bar_values(page, "#alternatives") == [19, 11]
    note = page.inner_text("#path-note")
    assert "19%" in note and "17%" in note and "36%" in note
    assert "路灯照明" not in page.inner_text("#alternatives")  # the chosen path is not offered as its own alternative
    chips = page.locator("#facts li.fact")
    assert [re.sub(r"\s", "", t) for t in chips.all_inner_texts()[:2]] == ["青石镇镇", "新民路道路"]
    assert page.locator("#facts li.fact-phone").inner_text() == "138****5678"
    assert "地点" in page.inner_text("#facts dt:first-of-type")


def test_phone_width_result_in_view_and_nothing_wider_than_the_screen(srv, page):
    open_page(page, srv, width=390)
    classify(page, **ITEM_A)
    page.wait_for_function("document.querySelector('#result').getBoundingClientRect().top < innerHeight / 2")
    top = page.evaluate("document.querySelector('#result').getBoundingClientRect().top")
    assert -2 <= top < 844 / 2
    page.wait_for_selector("#recent-table")
    widths = page.evaluate("""() => ({
        doc: document.documentElement.scrollWidth,
        header: document.querySelector('.site-header').scrollWidth,
        recent: document.querySelector('#recent-table').getBoundingClientRect().width,
        recentBox: document.querySelector('#recent-list').clientWidth,
        names: [...document.querySelectorAll('#alternatives .cand-name, #departments .cand-name')]
          .map((e) => e.getBoundingClientRect().width),
        select: document.querySelector('#item-engine').getBoundingClientRect().right,
    })""")
    assert widths["doc"] <= 390 and widths["header"] <= 390, widths
    assert widths["recent"] <= widths["recentBox"] + 1, widths
    assert widths["names"] and min(widths["names"]) > 200, widths  # a name gets its own line, not a column
    assert widths["select"] <= 390
    shot(page, "classify-phone")


def engine_select_fits(page) -> bool:
    return page.evaluate("""() => {
        const s = document.querySelector('#item-engine');
        const probe = document.createElement('span');
        probe.style.font = getComputedStyle(s).font;
        probe.style.whiteSpace = 'nowrap';
        document.body.append(probe);
        const widest = Math.max(...[...s.options].map((o) => {
            probe.textContent = o.text;
            return probe.offsetWidth;
        }));
        probe.remove();
        return widest + 40 <= s.clientWidth;  // the arrow and the padding
    }""")


@pytest.mark.parametrize("width", [1280, 390])
def test_minor_select_headings_and_disabled_buttons(srv, page, width):
    open_page(page, srv, width=width)
    assert engine_select_fits(page)
    hint = page.inner_text("#engine-hint")
    assert "TF-IDF" in hint and "BERT" in hint and "组合" in hint
    disabled = page.evaluate("getComputedStyle(document.querySelector('#accept-btn')).backgroundColor")
    classify(page, **ITEM_A)
    enabled = page.evaluate("getComputedStyle(document.querySelector('#accept-btn')).backgroundColor")
    assert disabled != enabled
    page.keyboard.press("Alt+2")
    page.wait_for_function("location.hash === '#/archive'")
    page.wait_for_function("document.activeElement && document.activeElement.tagName === 'H1'")
    page.keyboard.press("Alt+1")
    page.wait_for_selector("#h-input")
    page.wait_for_function("document.activeElement && document.activeElement.tagName === 'H1'")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"


@pytest.mark.parametrize("width", [1280, 390])
def test_no_serious_accessibility_violations_with_a_result_and_the_correction_form(srv, page, width):
    open_page(page, srv, width=width)
    classify(page, **ITEM_A)
    page.wait_for_selector("#highlighted-text")
    page.wait_for_selector("#recent-table")
    assert axe_violations(page) == []
    page.keyboard.press("Alt+c")
    page.wait_for_selector("#fix-topic")
    assert axe_violations(page) == []
