"""The 相似留言 / 可并案 panel beside the classify result and the 热点 view, in a real browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server
from tests.utils.similar import reports
from tests.utils.similar import similar_server as start_similar_server
from tests.web.conftest import axe_violations, classify_on_page, shot


@pytest.fixture(scope="module")
def similar_server(tmp_path_factory: pytest.TempPathFactory, trained_home: Path) -> Iterator[Server]:
    srv = start_similar_server(trained_home, tmp_path_factory.mktemp("web-similar-home"))
    for r in reports("m001")[1:]:
        answer = httpx.post(f"{srv.url}/v1/classify", json={"title": r["title"], "text": r["text"]}, timeout=60)
        assert answer.is_success, answer.text
    yield srv
    srv.stop()


MINE = ("similar", "sim-", "merge", "compare", "hotspots", "hot-")


def violations_here(page) -> list[dict]:
    """axe violations in this feature's parts of the page (the rest of the page is other issues' work)."""
    return [v for v in axe_violations(page) if any(m in str(t) for t in v["targets"] for m in MINE)]



def test_similar_panel_compares_side_by_side_and_merges(similar_server, page):
    page.goto(similar_server.url)
    page.wait_for_selector("#item-text")
    first = reports("m001")[0]
    classify_on_page(page, first["title"], first["text"])
    page.wait_for_selector("#similar-list .similar-item")
    items = page.locator("#similar-list .similar-item")
    assert items.count() >= 1
    assert page.get_attribute("#similar-list .similar-item", "data-kind") in ("duplicate", "same_matter")
    assert "锦江" in page.inner_text("#similar-list")
    page.locator("#similar-list .similar-item button.link").first.click()
    page.wait_for_selector("#compare-other")
    assert first["text"][:10] in page.inner_text("#similar-compare")  # this item on one side
    assert page.inner_text("#compare-other").strip()  # the similar one on the other
    page.locator("#similar-list input[type=checkbox]").first.check()
    page.click("#merge-btn")
    page.wait_for_selector("#similar-message.success")
    assert "已并案" in page.inner_text("#similar-message")
    groups = httpx.get(f"{similar_server.url}/v1/groups", timeout=30).json()["data"]
    assert groups and groups[0]["size"] == 2
    assert not violations_here(page)
    shot(page, "similar-panel")


def test_hotspots_view_shows_table_and_chart(similar_server, page):
    for r in reports("m004"):
        httpx.post(f"{similar_server.url}/v1/classify", json={"title": r["title"], "text": r["text"]}, timeout=60)
    page.goto(f"{similar_server.url}/#/hotspots")
    page.wait_for_selector("#hotspots-table tbody tr")
    assert page.title().startswith("热点问题")
    assert page.locator("#hotspots-chart rect.bar").count() >= 1
    first_row = page.locator("#hotspots-table tbody tr").first.inner_text()
    assert "锦江" in first_row or "溪口" in first_row or "路灯" in first_row
    assert not violations_here(page)
    shot(page, "hotspots")
