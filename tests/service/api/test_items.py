"""Verdicts and the work queue over HTTP against a real server and its SQLite file: 采纳 twice stores once (200
the second time), re-classifying the same text is the same item, a revision supersedes, the listings show final
labels and who decided; /v1/items filters, searches and pages; the export is a BOM'd CSV or an XLSX."""

from __future__ import annotations

import csv
import io
import sqlite3

import httpx
from openpyxl import load_workbook

LIFT = "小区电梯坏了三个月，物业一直不修，老人上下楼很困难"


def call(server, method, path, **kwargs):
    return httpx.request(method, f"{server.url}{path}", timeout=30, **kwargs)


def classify(server, text, title=""):
    r = call(server, "POST", "/v1/classify", json={"title": title, "text": text})
    assert r.status_code == 200, r.text
    return r.json()["classification_id"]


def stored_verdicts(server, text):
    with sqlite3.connect(server.home / "sqmy.db") as conn:
        return conn.execute("select action, supersedes from feedback where text = ? order by id", (text,)).fetchall()


def test_one_verdict_per_item_and_revisions_supersede(server):
    text = "独特文本甲：" + LIFT
    first = classify(server, text)
    r1 = call(server, "POST", "/v1/feedback", json={"classification_id": first, "action": "accept", "editor": "王编辑"})
    r2 = call(server, "POST", "/v1/feedback", json={"classification_id": first, "action": "accept", "editor": "王编辑"})
    assert (r1.status_code, r2.status_code) == (201, 200) and r2.json()["duplicate"]
    second = classify(server, text + " ")  # the same text again: the same item, already decided
    recent = call(server, "GET", "/v1/classifications", params={"limit": 50}).json()["data"]
    mine = [r for r in recent if r["text"].startswith("独特文本甲")]
    assert len(mine) == 1 and mine[0]["classification_id"] == second and mine[0]["status"] == "accepted"
    assert mine[0]["decided_by"] == "王编辑" and mine[0]["times_classified"] == 2
    revised = call(server, "POST", "/v1/feedback", json={
        "classification_id": second, "action": "correct", "topic": "交通运输/客货运输",
        "departments": [{"name": "交通局", "role": "lead"}], "editor": "李编辑"})
    assert revised.status_code == 201 and revised.json()["supersedes"] == r1.json()["id"]
    assert stored_verdicts(server, text) == [("accept", None), ("correct", r1.json()["id"])]
    item = call(server, "GET", "/v1/items", params={"q": "独特文本甲"}).json()["data"][0]
    assert item["status"] == "corrected" and item["decided_by"] == "李编辑" and item["decided_at"]
    assert item["final"]["topic_path"][:2] == ["交通运输", "客货运输"] and item["final"]["lead"] == "市交通运输局"
    recent = call(server, "GET", "/v1/classifications", params={"limit": 50}).json()["data"]
    shown = next(r for r in recent if r["classification_id"] == second)
    assert shown["feedback"]["lead"] == "市交通运输局" and shown["final"]["lead"] == "市交通运输局"


def test_items_filters_pages_and_exports(server):
    for n in range(23):
        classify(server, f"批次乙第{n}条：{LIFT}")
    page1 = call(server, "GET", "/v1/items", params={"q": "批次乙", "page_size": 20}).json()
    page2 = call(server, "GET", "/v1/items", params={"q": "批次乙", "page_size": 20, "page": 2}).json()
    assert page1["total"] == 23 and len(page1["data"]) == 20 and len(page2["data"]) == 3
    assert not {i["classification_id"] for i in page1["data"]} & {i["classification_id"] for i in page2["data"]}
    pending = call(server, "GET", "/v1/items", params={"q": "批次乙", "status": "pending"}).json()
    assert pending["total"] == 23
    bad = call(server, "GET", "/v1/items", params={"status": "maybe"})
    assert bad.status_code == 422 and bad.json()["field"] == "status"
    backwards = call(server, "GET", "/v1/items", params={"from": "2026-03-02", "to": "2026-03-01"})
    assert backwards.status_code == 422 and backwards.json()["field"] == "to"
    exported = call(server, "GET", "/v1/items/export", params={"q": "批次乙", "format": "csv"})
    assert exported.status_code == 200 and exported.content.startswith("\ufeff".encode())
    assert "filename*=UTF-8''" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert len(rows) == 23 and {r["状态"] for r in rows} == {"待处理"} and rows[0]["最终分类"]
    xlsx = call(server, "GET", "/v1/items/export", params={"q": "批次乙"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.max_row == 24 and sheet.cell(1, 1).value == "编号"
