"""The work queue (待办) and batch paste (批量粘贴) in headless Chromium against a real server: keyboard triage
stores one verdict per item, the queue shows final labels and who decided, filters, searches and pages beyond 20,
exports with final labels, and both views work at phone width without serious accessibility violations."""

from __future__ import annotations

import csv
import sqlite3

import httpx
import pytest

from tests.web.conftest import axe_violations, shot

LIFT = "小区电梯坏了三个月，物业一直不修，老人上下楼很困难"



def classify(server, text, title=""):
    r = httpx.post(f"{server.url}/v1/classify", json={"title": title, "text": text}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def verdicts(server, like):
    with sqlite3.connect(server.home / "sqmy.db") as conn:
        return conn.execute("select action, editor, supersedes from feedback where text like ? order by id",
                            (f"%{like}%",)).fetchall()


def open_queue(page, server):
    page.goto(f"{server.url}/#/queue")
    page.wait_for_selector("#queue-summary:has-text('共')")


def filter_queue(page, *, status: str | None = None, q: str | None = None) -> None:
    """Change the status filter and/or search, then wait for the newest list: each change reloads it, and acting on
    an older list races with the re-render that replaces it."""
    if status is not None:
        page.select_option("#queue-status", status)
    if q is not None:
        page.fill("#queue-q", q)
        page.keyboard.press("Enter")
    page.wait_for_selector("#queue-summary:has-text('共')")


def fix_to_transport(page) -> None:
    """In the open correction form: topic 交通运输 / 客货运输, lead 市交通运输局 (typed, then chosen)."""
    for selector, typed in (("#queue-fix-topic", "交通运输 / 客货运输"), ("#queue-fix-lead", "交通局")):
        page.fill(selector, typed)
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")


def test_queue_triage_by_keyboard_search_paging_and_export(open_server, page, tmp_path):
    for n in range(23):
        classify(open_server, f"队列测试{n:02d}号：{LIFT}")
    page.goto(open_server.url)
    page.wait_for_selector("#item-text")
    page.keyboard.press("Alt+4")
    page.wait_for_selector("#queue-summary:has-text('共')")
    page.fill("#queue-q", "队列测试")
    page.keyboard.press("Enter")
    page.wait_for_selector("#queue-summary:has-text('共 23 条')")
    assert page.locator("#queue-list .triage-item").count() == 20
    page.keyboard.press("n")  # the next page, beyond the first 20
    page.wait_for_selector("#queue-summary:has-text('第 2 / 2 页')")
    assert page.locator("#queue-list .triage-item").count() == 3
    page.keyboard.press("p")
    page.wait_for_selector("#queue-summary:has-text('第 1 / 2 页')")
    # keyboard triage: j moves, a accepts (twice: one verdict), c corrects the next one
    first = page.locator("#queue-list .triage-item").nth(0).get_attribute("data-id")
    page.keyboard.press("a")
    page.wait_for_selector(f"#queue-list [data-id='{first}'][data-status='accepted']")
    second = page.locator("#queue-list .triage-item").nth(1).get_attribute("data-id")
    assert page.evaluate("document.activeElement.dataset.id") == second  # accepting moves on to the next item
    page.keyboard.press("k")
    page.keyboard.press("a")  # already accepted: nothing is stored again
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.dataset.id") == second
    page.keyboard.press("c")
    page.wait_for_selector("#queue-fix-topic")
    fix_to_transport(page)
    page.click("#queue-fix-form button[type=submit]")
    page.wait_for_selector(f"#queue-list [data-id='{second}'][data-status='corrected']")
    row = page.inner_text(f"#queue-list [data-id='{second}']")
    assert "交通运输 › 客货运输" in row and "市交通运输局" in row and "模型原建议" in row and "已纠正" in row
    by_id = {r["classification_id"]: r for r in httpx.get(
        f"{open_server.url}/v1/items", params={"q": "队列测试", "page_size": 50}, timeout=10).json()["data"]}
    assert by_id[first]["status"] == "accepted" and by_id[second]["final"]["lead"] == "市交通运输局"
    assert len(verdicts(open_server, "队列测试")) == 2  # one verdict per item
    # status filter: the decided ones leave 待处理; export the filtered list with final labels
    page.select_option("#queue-status", "corrected")
    page.wait_for_selector("#queue-summary:has-text('共 1 条')")
    with page.expect_download() as info:
        page.click("#queue-export-csv")
    target = tmp_path / "export.csv"
    info.value.save_as(target)
    raw = target.read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert len(rows) == 1 and rows[0]["最终主办单位"] == "市交通运输局" and rows[0]["状态"] == "已纠正"
    shot(page, "queue")


def test_revising_a_verdict_supersedes_it(open_server, page):
    p = classify(open_server, "修改结论测试：" + LIFT)
    httpx.post(f"{open_server.url}/v1/feedback", json={"classification_id": p["classification_id"],
                                                       "action": "accept", "editor": "王编辑"}, timeout=10)
    open_queue(page, open_server)
    filter_queue(page, status="", q="修改结论测试")
    page.wait_for_selector("#queue-summary:has-text('共 1 条')")
    page.wait_for_selector("#queue-list [data-status='accepted']")
    assert "已采纳：王编辑" in page.inner_text("#queue-list .triage-item")
    page.click("#queue-list [data-act='correct']")
    fix_to_transport(page)
    page.keyboard.press("Enter")  # submits the form
    page.wait_for_selector("#queue-list [data-status='corrected']")
    stored = verdicts(open_server, "修改结论测试")
    assert [v[0] for v in stored] == ["accept", "correct"] and stored[1][2] is not None


def test_batch_paste_from_excel_and_triage(open_server, page):
    table = "编号\t标题\t正文\n" + "\n".join(
        f"P-{n}\t粘贴{n}\t粘贴测试{n}：{text}" for n, text in enumerate(
            [LIFT, "12路公交车早高峰不按时到站", "工地夜间施工噪音扰民", "公司拖欠三个月工资不发"]))
    page.goto(f"{open_server.url}/#/paste")
    page.wait_for_selector("#paste-input")
    page.fill("#paste-input", "")
    page.click("#paste-submit")
    assert "请先粘贴" in page.inner_text("#paste-message")
    page.fill("#paste-input", table)
    page.focus("#paste-input")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#paste-summary:has-text('共 4 条')")
    assert page.locator("#paste-list .triage-item").count() == 4
    assert page.inner_text("#paste-list .triage-item >> nth=0").count("粘贴0") >= 1
    page.keyboard.press("a")  # focus is on the first item
    page.wait_for_selector("#paste-list .triage-item[data-status='accepted']")
    page.keyboard.press("j")  # accepting moved on to P-1; j goes to P-2, k back to P-1
    page.keyboard.press("k")
    page.keyboard.press("a")
    page.wait_for_selector("#paste-summary:has-text('已处理 2 条')")
    stored = verdicts(open_server, "粘贴测试")
    assert len(stored) == 2 and {s[0] for s in stored} == {"accept"}
    with sqlite3.connect(open_server.home / "sqmy.db") as conn:
        ids = {r[0] for r in conn.execute("select item_id from feedback where text like '%粘贴测试%'")}
    assert ids == {"P-0", "P-1"}
    shot(page, "paste")


@pytest.mark.parametrize("width", [1280, 390])
def test_queue_and_paste_at_desktop_and_phone_width(open_server, page, width):
    classify(open_server, "宽度测试：" + LIFT)
    page.set_viewport_size({"width": width, "height": 900})
    open_queue(page, open_server)
    filter_queue(page, status="")
    page.wait_for_selector("#queue-list .triage-item")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert axe_violations(page) == []
    if width == 390:
        shot(page, "queue-phone")
    page.goto(f"{open_server.url}/#/paste")
    page.fill("#paste-input", "宽度测试一：" + LIFT + "\n宽度测试二：公交车不按时到站")
    page.click("#paste-submit")
    page.wait_for_selector("#paste-list .triage-item")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert axe_violations(page) == []
