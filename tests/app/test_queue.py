"""One verdict per item and the editors' work queue, on a real SQLite file: repeats store nothing, a revision
supersedes (kept in the audit trail), the same text classified twice is one item, the queue shows final labels,
filters, searches Chinese substrings and pages; the export masks numbers and keeps every cell text."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert

from sqmy.app.feedback import record_feedback
from sqmy.app.queue import QueueFilter, export_items, list_items
from sqmy.app.queue_export import HEADERS, to_csv, to_xlsx
from sqmy.app.storage import (
    Classification,
    audit_events,
    classification_row,
    make_engine,
    new_classification_id,
    transaction,
)
from sqmy.core.pii import mask_pii

LIFT = "小区电梯坏了三个月，物业一直不修，老人上下楼很困难"
BUS = "12路公交车早高峰经常不按时到站，等车半小时"


@pytest.fixture
def db(tmp_path):
    return make_engine(f"sqlite:///{tmp_path / 'sqmy.db'}")


def classify(db, text, *, title="", topic=("城乡建设", "住房保障与房地产"), lead="市住房和城乡建设局", review=False,
             item_id=None, when=None):
    """Store a classification as the service does (what the model said)."""
    result = {"classification_id": new_classification_id(), "topic": topic[0], "topic_path": list(topic),
              "topic_confidence": 0.6, "departments": [{"name": lead, "role": "lead"}], "engine": "tfidf",
              "model_version": "tfidf-test", "needs_review": review}
    row = classification_row({"id": item_id, "title": title, "text": text}, result, "api")
    if when is not None:
        row["created_at"] = when
    with transaction(db) as conn:
        conn.execute(insert(Classification), [row])
    return result["classification_id"]


def feedback_count(tmp_path):
    with sqlite3.connect(tmp_path / "sqmy.db") as conn:
        return conn.execute("select count(*) from feedback").fetchone()[0]


def test_accepting_twice_stores_one_verdict(db, labels, tmp_path):
    cid = classify(db, LIFT)
    first = record_feedback(db, labels, {"classification_id": cid, "action": "accept"}, "王编辑")
    again = record_feedback(db, labels, {"classification_id": cid, "action": "accept"}, "王编辑")
    assert (first["duplicate"], again["duplicate"]) == (False, True)
    assert again["id"] == first["id"] and feedback_count(tmp_path) == 1


def test_a_revision_supersedes_the_verdict_and_both_stay_in_the_audit_trail(db, labels, tmp_path):
    cid = classify(db, LIFT)
    accepted = record_feedback(db, labels, {"classification_id": cid, "action": "accept"}, "王编辑")
    revised = record_feedback(db, labels, {"classification_id": cid, "action": "correct", "topic": "交通运输",
                                           "departments": [{"name": "交通局", "role": "lead"}]}, "李编辑")
    assert revised["supersedes"] == accepted["id"] and feedback_count(tmp_path) == 2
    trail = audit_events(db, action="feedback")
    assert [e["details"]["feedback_id"] for e in trail] == [revised["id"], accepted["id"]]
    item = list_items(db, QueueFilter())["data"][0]
    assert item["status"] == "corrected" and item["decided_by"] == "李编辑"
    assert item["final"]["topic_path"][0] == "交通运输" and item["final"]["lead"] == "市交通运输局"
    assert item["suggested"]["topic_path"][0] == "城乡建设"  # what the model said stays visible


def test_the_same_text_classified_twice_is_one_item_decided_by_one_verdict(db, labels):
    first = classify(db, LIFT)
    second = classify(db, "  " + LIFT.replace("，", "， ") + "\n")  # the same text, other whitespace
    assert list_items(db, QueueFilter())["total"] == 1
    record_feedback(db, labels, {"classification_id": first, "action": "accept"}, "王编辑")
    again = record_feedback(db, labels, {"classification_id": second, "action": "accept"}, "王编辑")
    assert again["duplicate"]
    page = list_items(db, QueueFilter())
    assert page["total"] == 1 and page["data"][0]["status"] == "accepted"
    assert page["data"][0]["times_classified"] == 2
    assert list_items(db, QueueFilter(status="pending"))["total"] == 0


def test_filters_search_and_paging(db, labels):
    start = datetime(2026, 3, 1, 8, tzinfo=UTC)
    for n in range(25):
        classify(db, f"第{n}号：{LIFT}", when=start + timedelta(days=n % 5))
    bus = classify(db, BUS, topic=("交通运输", "客货运输"), lead="市交通运输局", review=True,
                   when=start + timedelta(days=9))
    assert list_items(db, QueueFilter())["total"] == 26
    second = list_items(db, QueueFilter(), page=2, page_size=20)
    assert len(second["data"]) == 6 and second["pages"] == 2
    assert [i["classification_id"] for i in list_items(db, QueueFilter(status="needs_review"))["data"]] == [bus]
    assert list_items(db, QueueFilter(q="公交车"))["total"] == 1  # a Chinese substring (full-text index)
    assert list_items(db, QueueFilter(q="等车 早高峰"))["total"] == 1  # every word
    assert list_items(db, QueueFilter(q="电梯"))["total"] == 25  # two characters: LIKE
    assert list_items(db, QueueFilter(q="地铁"))["total"] == 0
    record_feedback(db, labels, {"classification_id": bus, "action": "correct", "topic": "城乡建设/城市建设和市政管理",
                                 "departments": [{"name": "住建局", "role": "lead"}]}, "赵编辑")
    assert list_items(db, QueueFilter(topic="交通运输"))["total"] == 0  # final labels, not the suggestion
    assert list_items(db, QueueFilter(topic="城乡建设", editor="赵编辑"))["total"] == 1
    assert list_items(db, QueueFilter(unit="市住房和城乡建设局"))["total"] == 26
    window = QueueFilter(since=start + timedelta(days=4), until=start + timedelta(days=5))
    assert list_items(db, window)["total"] == 5


def test_search_finds_rows_stored_before_the_index_existed(tmp_path, labels):
    db = make_engine(f"sqlite:///{tmp_path / 'sqmy.db'}")
    classify(db, BUS)
    with sqlite3.connect(tmp_path / "sqmy.db") as conn:  # a database from before the index
        conn.executescript("drop trigger classifications_fts_ai; drop trigger classifications_fts_ad; "
                           "drop table classifications_fts;")
    again = make_engine(f"sqlite:///{tmp_path / 'sqmy.db'}")
    assert list_items(again, QueueFilter(q="公交车早高峰"))["total"] == 1


def test_the_export_masks_numbers_keeps_text_and_opens_in_excel(db, labels):
    classify(db, "=HYPERLINK(\"x\") 电话13812345678，身份证110101199001011234，请回电")
    items = export_items(db, QueueFilter())
    raw = to_csv(items)
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert tuple(rows[0]) == HEADERS
    body = rows[1][HEADERS.index("正文")]
    assert body.startswith("'=") and "138****5678" in body and "13812345678" not in body
    assert "110101********1234" in body and rows[1][HEADERS.index("需复核")] == "否"
    sheet = load_workbook(io.BytesIO(to_xlsx(items))).active
    cells = [c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))]
    assert cells[HEADERS.index("正文")].startswith("=HYPERLINK") and "13812345678" not in cells[3]
    assert next(sheet.iter_rows(min_row=2, max_row=2))[3].data_type == "s"


def test_masking_leaves_other_numbers_alone():
    assert mask_pii("12路公交，2026年3月，编号20260301") == "12路公交，2026年3月，编号20260301"
    assert mask_pii("座机0571-87654321") == "座机0571-****4321"
