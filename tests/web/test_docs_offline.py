"""The API documentation pages (/docs, /redoc) work on an offline install: a browser that refuses every request
to another host still renders the list of operations, and the pages ask no other host for anything."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture
def offline_page(browser):
    """A page whose requests to any other host are aborted and recorded (as on a machine without network)."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    outside: list[str] = []

    def guard(route):
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", guard)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    yield page, outside, errors
    context.close()


def unexpected(errors: list[str]) -> list[str]:
    """Console and page errors, less the browser refusing (by the page's CSP) ReDoc's logo from its CDN."""
    return [e for e in errors if not ("cdn.redoc.ly" in e and "Content Security Policy" in e)]


def operations(server) -> list[tuple[str, str]]:
    spec = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    return [(method.upper(), path) for path, ops in spec["paths"].items() for method in ops]


def test_swagger_ui_lists_every_operation_offline(server, offline_page):
    page, outside, errors = offline_page
    page.goto(f"{server.url}/docs")
    page.wait_for_selector(".opblock")
    summaries = page.locator(".opblock-summary").all_inner_texts()
    expected = operations(server)
    assert len(summaries) == len(expected) > 20
    assert any("/v1/classify" in s and "POST" in s for s in summaries), summaries
    assert not outside, f"/docs asked other hosts for {outside}"
    assert not unexpected(errors), errors


def test_redoc_lists_the_operations_offline(server, offline_page):
    page, outside, errors = offline_page
    page.goto(f"{server.url}/redoc")
    page.wait_for_selector("[data-section-id^='operation/']")
    assert page.locator("[data-section-id^='operation/']").count() == len(operations(server))
    assert "对一条社情民意/留言给出分类路径" in page.inner_text("body")
    assert not outside, f"/redoc asked other hosts for {outside}"
    assert not unexpected(errors), errors


def test_docs_pages_name_no_other_host(server):
    """The HTML itself points at this server only (no CDN, no Google Fonts)."""
    for path in ("/docs", "/redoc"):
        html = httpx.get(f"{server.url}{path}", timeout=10).text
        assert "cdn.jsdelivr" not in html and "fonts.googleapis" not in html and "tiangolo" not in html
        assert "/static/vendor/" in html
