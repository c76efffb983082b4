"""The web page's server side: /, /static assets (offline: nothing fetched from elsewhere), POST /v1/explain."""

from __future__ import annotations

import re

import httpx
import pytest

from sqmy.service.web import STATIC_DIR

VENDOR_DIR = STATIC_DIR / "vendor"


def test_page_and_assets_are_served(server):
    page = httpx.get(f"{server.url}/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in page.text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert "/static/js/app.js" in assets and "/static/app.css" in assets
    for path in sorted(STATIC_DIR.rglob("*.*")):
        url = f"{server.url}/static/{path.relative_to(STATIC_DIR).as_posix()}"
        r = httpx.get(url, timeout=10)
        assert r.status_code == 200, url
    assert httpx.get(f"{server.url}/static/js/app.js", timeout=10).headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{server.url}/static/missing.js", timeout=10).status_code == 404


def test_page_works_offline():
    """No CDN: every URL the page's own files name is the SVG/XHTML namespace or a path on this server (the
    vendored docs bundles under vendor/ are checked in a browser that refuses outside requests: tests/web)."""
    for path in STATIC_DIR.rglob("*.*"):
        if VENDOR_DIR in path.parents:
            continue
        text = path.read_text(encoding="utf-8")
        urls = set(re.findall(r"https?://[^\s'\"`)]+", text))
        assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml"}, (path, urls)
        imports = re.findall(r"from '([^']+)'", text)
        assert all(i.startswith("./") for i in imports), (path, imports)


def test_static_files_are_package_data():
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["sqmy.service"]
    service_dir = STATIC_DIR.parents[1]
    covered = {p for pattern in patterns for p in service_dir.glob(pattern)}
    assert {p for p in STATIC_DIR.rglob("*.*")} <= covered


def post(server, path, **kwargs):
    return httpx.post(f"{server.url}{path}", timeout=30, **kwargs)


def test_explain_returns_spans_into_the_text(server):
    body = {"title": "讨薪", "text": "老板拖欠我们三个月工资，讨薪多次没有结果。"}
    r = post(server, "/v1/explain", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["engine"] == "tfidf" and out["model_version"].startswith("tfidf-") and out["method"] == "linear"
    assert out["topic"] == "劳动和社会保障"
    assert out["spans"] and all(body["text"][s["start"]:s["end"]] == s["text"] for s in out["spans"])
    assert all(body["title"][s["start"]:s["end"]] == s["text"] for s in out["title_spans"])
    assert max(out["spans"], key=lambda s: s["weight"])["text"] in {"工资", "拖欠", "老板", "讨薪"}
    classified = post(server, "/v1/classify", json=body).json()
    assert out["topic_path"] == classified["topic_path"][:2]  # explained through level 2


def test_explain_for_a_chosen_topic(server):
    r = post(server, "/v1/explain", json={"text": "小区路灯坏了", "topic": ["劳动和社会保障", "工资福利"]})
    assert r.status_code == 200 and r.json()["topic_path"] == ["劳动和社会保障", "工资福利"]


@pytest.mark.parametrize(("payload", "status", "field"), [
    ({"text": ""}, 422, "text"),
    ({"text": "正文", "topic": "火星"}, 422, "topic"),
    ({"text": "正文", "engine": "gpt"}, 422, "engine"),
    ({"text": "正文", "engine": "bert"}, 422, "engine"),  # not loaded here (only TF-IDF is)
    ({"text": "长" * 20_001}, 413, "text"),
])
def test_explain_errors_name_the_field(server, payload, status, field):
    r = post(server, "/v1/explain", json=payload)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field and r.json()["error"]
