"""The archive view (档案批量分类) in headless Chromium against a real server: the file check speaks Chinese (no
browser bubble), a file without a text column fails with the reason on the page, a finished job shows its summary
(per topic, per unit, 需复核 and changed shares) and row errors, the result CSV is for Excel (BOM, Chinese headers,
是/否), and the view passes axe at desktop and phone width."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.web.conftest import axe_violations, shot

FINISHED = "#h-job [data-status=succeeded], #h-job [data-status=failed], #h-job [data-status=cancelled]"



def upload(page, server, path: Path) -> str:
    page.goto(f"{server.url}/#/archive")
    page.set_input_files("#archive-file", str(path))
    page.click("#archive-submit")
    return page.wait_for_selector(FINISHED, timeout=120_000).get_attribute("data-status")


def test_no_file_is_refused_in_chinese_without_the_browser_bubble(open_server, page):
    page.goto(f"{open_server.url}/#/archive")
    page.click("#archive-submit")
    assert "请选择要上传的档案文件" in page.inner_text("#archive-message")
    assert page.get_attribute("#archive-form", "novalidate") is not None
    assert page.get_attribute("#archive-file", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "archive-file"


def test_a_file_without_a_text_column_fails_with_the_reason_on_the_page(open_server, page, tmp_path):
    source = tmp_path / "no-text.csv"
    source.write_text("编号,备注\n" + "".join(f"n{n},无正文\n" for n in range(20)), encoding="utf-8")
    assert upload(page, open_server, source) == "failed"
    reason = page.inner_text("#job-error")
    assert "找不到正文列" in reason and "正文列" in reason
    assert page.locator("#download-result").count() == 0
    shot(page, "archive-no-text-column")


@pytest.mark.parametrize("width", [1280, 390])
def test_a_finished_job_shows_its_summary_and_an_excel_ready_result(open_server, page, tmp_path, width):
    source = tmp_path / "archive.csv"
    with source.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["编号", "标题", "内容", "一级分类"])
        for n in range(30):
            title, text, label = (("路灯坏了", f"第{n}条：小区路灯坏了", "城乡建设") if n % 2
                                  else ("拖欠工资", f"第{n}条：老板拖欠工资", "城乡建设"))
            writer.writerow([f"a{n}", title, text, label])
        writer.writerow(["a-empty", "空", "", "城乡建设"])
    page.set_viewport_size({"width": width, "height": 900})
    assert upload(page, open_server, source) == "succeeded", page.inner_text("#job")
    page.wait_for_selector("#job-summary")
    assert page.locator("#job-topics tbody tr").count() >= 1
    assert page.locator("#job-leads tbody tr").count() >= 1
    assert "%" in page.inner_text("#job-review-share") and "有原标签 30 行" in page.inner_text("#job-changed-share")
    assert "1 行无法分类" in page.inner_text("#job-row-errors") and "缺失或为空" in page.inner_text("#job-row-errors")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert axe_violations(page) == []
    shot(page, "archive-summary" if width == 1280 else "archive-phone")
    with page.expect_download() as info:
        page.click("#download-result")
    saved = tmp_path / "routed.csv"
    info.value.save_as(saved)
    raw = saved.read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert len(rows) == 30 and rows[0]["预测分类"] and rows[0]["预测主办单位"]
    assert {r["需复核"] for r in rows} <= {"是", "否"} and {r["与原标签不同"] for r in rows} <= {"是", "否"}
