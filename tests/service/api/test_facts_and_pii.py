"""Facts in the API's answers, and no raw phone or ID number in what the service and the batch CLI keep or show:
the database file, the logs, the metrics, the feedback and audit trail, the batch outputs."""

import csv
import json
import logging
import sqlite3

import httpx

from sqmy.app.storage import classification_row
from sqmy.core.pii import install_log_masking
from tests.cli.test_cli import sqmy
from tests.conftest import Server

PHONE, ID_18 = "13912345678", "11010519491231002X"
TEXT = f"青溪市青石镇幸福村3组路灯坏了一个多月，我住在阳光花园小区，联系电话{PHONE}，身份证号{ID_18}，请尽快维修。"
SECRETS = (PHONE, ID_18, "1234567", "0519491231")  # the numbers, and runs of their middle digits


def post(server, path, **kwargs):
    return httpx.post(f"{server.url}{path}", timeout=30, **kwargs)


def assert_clean(blob: str | bytes, where: str) -> None:
    data = blob if isinstance(blob, str) else blob.decode("utf-8", errors="replace")
    for secret in SECRETS:
        assert secret not in data, f"{secret} in {where}"


def test_classify_returns_facts_with_offsets_into_the_body(server):
    body = post(server, "/v1/classify", json={"title": "标题里的电话13800001111不算", "text": TEXT}).json()
    facts = body["facts"]
    by_kind = {}
    for fact in facts:
        by_kind.setdefault(fact["kind"], []).append(fact)
        if fact["kind"] in ("place", "person", "plate"):
            assert TEXT[fact["start"]:fact["end"]] == fact["text"]
    assert [(f["text"], f["level"]) for f in by_kind["place"]] == [
        ("青溪市", "city"), ("青石镇", "town"), ("幸福村", "village"), ("阳光花园小区", "estate")]
    phone, card = by_kind["phone"][0], by_kind["id_number"][0]
    assert len(by_kind["phone"]) == 1  # the title's number is not returned
    assert TEXT[phone["start"]:phone["end"]] == PHONE and phone["text"] == "139****5678"
    assert TEXT[card["start"]:card["end"]] == ID_18 and card["text"] == "110***********002X"
    assert "青石镇" in [d["name"] for d in body["departments"]]  # the town the text names takes part


def test_facts_can_be_turned_off_and_come_in_batches(server):
    assert "facts" not in post(server, "/v1/classify", json={"text": TEXT, "facts": False}).json()
    batch = post(server, "/v1/classify/batch", json={"items": [{"text": TEXT}, {"text": "出租车不打表"}]}).json()
    assert [len(d["facts"]) > 0 for d in batch["data"]] == [True, False]
    r = post(server, "/v1/classify", json={"text": TEXT, "facts": "yes"})
    assert r.status_code == 422 and "facts" in r.text


def test_no_raw_phone_or_id_in_database_logs_metrics_feedback_or_exports(home, tmp_path):
    srv = Server(home, SQMY_LOG_LEVEL="debug")
    try:
        one = post(srv, "/v1/classify", json={"id": "pii-1", "title": f"回电{PHONE}", "text": TEXT}).json()
        post(srv, "/v1/classify/batch", json={"items": [{"id": "pii-2", "text": TEXT}]})
        verdict = post(srv, "/v1/feedback", json={"classification_id": one["classification_id"], "action": "accept",
                                                   "note": f"已电话联系{PHONE}"})
        assert verdict.status_code == 201
        post(srv, "/v1/feedback", json={"text": TEXT, "topic": "城乡建设", "note": ID_18})
        shown = [httpx.get(f"{srv.url}{path}", timeout=30).text
                 for path in ("/v1/classifications", "/v1/feedback", "/metrics")]
    finally:
        srv.stop()
    logs = srv.process.stdout.read()
    assert_clean(json.dumps(one), "the answer")
    for n, text in enumerate(shown):
        assert_clean(text, f"response {n}")
    assert "139****5678" in shown[0]  # the stored item is there, masked
    assert_clean(logs, "the server's log")
    for path in home.glob("sqmy.db*"):  # the database and its write-ahead log
        assert_clean(path.read_bytes(), path.name)
    with sqlite3.connect(home / "sqmy.db") as conn:
        assert conn.execute("select count(*) from classifications where text like '%139****5678%'").fetchone()[0] == 2
        assert conn.execute("select count(*) from audit_events").fetchone()[0] >= 2

    src = tmp_path / "in.csv"
    with open(src, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["编号", "正文", "联系电话"])
        writer.writerow(["1", TEXT, PHONE])
        writer.writerow(["2", "出租车不打表", ID_18])
    for out in (tmp_path / "out.csv", tmp_path / "out.jsonl"):
        done = sqmy(home, "batch", src, out, "--engine", "tfidf")
        assert done.returncode == 0, done.stderr
        assert_clean(out.read_text(encoding="utf-8") + done.stdout + done.stderr, out.name)
    rows = list(csv.DictReader((tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()))
    assert rows[0]["联系电话"] == "139****5678" and "青石镇" in rows[0]["places"]
    assert rows[0]["contacts"] == "139****5678、110***********002X"
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {f["kind"] for f in lines[0]["facts"]} >= {"place", "phone", "id_number"}
    done = sqmy(home, "classify", TEXT, "--engine", "tfidf")
    assert_clean(done.stdout + done.stderr, "sqmy classify")
    assert "139****5678" in done.stdout


def test_stored_text_is_masked_unless_the_site_keeps_it_raw():
    item, result = {"id": "a", "title": "", "text": TEXT}, {
        "classification_id": "c-1", "topic": "t", "topic_path": ["t"], "topic_confidence": 1.0, "departments": [],
        "engine": "tfidf", "model_version": "v", "needs_review": False}
    assert PHONE not in classification_row(item, result, "api")["text"]
    assert classification_row(item, result, "api", raw=True)["text"] == TEXT


def test_log_records_are_masked(caplog):
    install_log_masking()
    with caplog.at_level(logging.INFO):
        logging.getLogger("sqmy.test").info("item %s failed", TEXT)
        try:
            raise ValueError(f"bad {ID_18}")
        except ValueError:
            logging.getLogger("sqmy.test").exception("stored %s", PHONE)
    assert_clean(caplog.text, "the log")
    assert "139****5678" in caplog.text


def test_access_log_lines_are_masked_and_still_formatted():
    """uvicorn's access log unpacks its record's arguments (client, method, path, version, status): masking must
    leave them a tuple, or every access line becomes a 'Logging error' traceback on stderr."""
    from uvicorn.logging import AccessFormatter

    install_log_masking()
    record = logging.getLogger("uvicorn.access").makeRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/v1/items?q={PHONE}", "1.1", 200), None)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)
    assert_clean(line, "the access log")
    assert line.startswith('127.0.0.1:5000 - "GET /v1/items?q=139****5678 HTTP/1.1" 200')
