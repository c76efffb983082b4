"""The HTTP API against a real uvicorn server (``sqmy serve``) with a real SQLite file."""

import sqlite3
import time

import httpx
import pytest

from tests.conftest import Server


def post(server, path, **kwargs):
    return httpx.post(f"{server.url}{path}", timeout=30, **kwargs)


def test_classify_returns_routing(server):
    r = post(server, "/v1/classify", json={"id": "x1", "title": "讨薪", "text": "老板拖欠我们三个月工资"})
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == "x1" and body["topic"] == "劳动和社会保障"
    assert body["engine"] == "tfidf" and body["model_version"].startswith("tfidf-")
    assert 0 < body["topic_confidence"] <= 1
    assert body["departments"][0]["role"] == "lead"
    assert isinstance(body["needs_review"], bool)


def test_results_are_stored_in_sqlite(server):
    post(server, "/v1/classify", json={"id": "stored-1", "text": "工地夜间施工噪音扰民"})
    db = server.home / "sqmy.db"
    rows = []
    for _ in range(100):  # the log is written by a background thread; wait for it (bounded)
        with sqlite3.connect(db) as conn:
            rows = conn.execute("select topic, engine from classifications where item_id='stored-1'").fetchall()
        if rows:
            break
        time.sleep(0.05)
    assert rows and rows[0][1] == "tfidf"
    with sqlite3.connect(db) as conn:
        assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_batch_classifies_every_item_in_order(server):
    items = [{"id": str(n), "text": t} for n, t in enumerate(["出租车不打表", "学校乱收费", "河水被污染"])]
    r = post(server, "/v1/classify/batch", json={"items": items})
    assert r.status_code == 200
    assert [d["id"] for d in r.json()["data"]] == ["0", "1", "2"] and r.json()["count"] == 3


@pytest.mark.parametrize(("payload", "status", "field"), [
    ({"text": ""}, 422, "text"),
    ({"text": "   \n "}, 422, "text"),
    ({"text": "\u200b\u200d\ufeff"}, 422, "text"),  # zero-width characters and a BOM only
    ({"text": "\x00\x00 "}, 422, "text"),
    ({"title": "只有标题"}, 422, "text"),
    ({"text": 123}, 422, "text"),
    ({"text": "正文", "top_k": "many"}, 422, "top_k"),
    ({"text": "正文", "engine": "gpt"}, 422, "engine"),
    ({"text": "正文", "unexpected": 1}, 422, "unexpected"),
    ({"text": "长" * 20_001}, 413, "text"),
])
def test_bad_input_gets_a_clear_error_naming_the_field(server, payload, status, field):
    r = post(server, "/v1/classify", json=payload)
    assert r.status_code == status
    body = r.json()
    assert body["field"] == field and field in body["error"]
    assert body["error_type"] in ("validation", "too_large")


def test_wrong_method_gets_a_json_405_with_allow(server):
    r = httpx.get(f"{server.url}/v1/classify", timeout=30)
    assert r.status_code == 405 and "POST" in r.headers["allow"]
    assert r.json()["error"] == "该接口不支持此请求方法"


def test_malformed_json_and_wrong_encoding(server):
    r = post(server, "/v1/classify", content=b'{"text": "abc"', headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error_type"] == "invalid_json"
    gbk = '{"text": "路灯坏了"}'.encode("gbk")
    r = post(server, "/v1/classify", content=gbk, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "UTF-8" in r.json()["error"]


def test_batch_limits(server):
    r = post(server, "/v1/classify/batch", json={"items": [{"text": "路灯"}] * 257})
    assert r.status_code == 413 and r.json()["field"] == "items"
    r = post(server, "/v1/classify/batch", json={"items": [{"text": "路灯"}, {"text": ""}]})
    assert r.status_code == 422 and r.json()["field"] == "items.1.text"
    r = post(server, "/v1/classify/batch", json={"items": []})
    assert r.status_code == 422 and r.json()["field"] == "items"


def test_an_engine_this_server_has_not_loaded_is_the_clients_to_change(server):
    """Naming an engine that is not loaded (while TF-IDF is) is a 422 naming the field, not a server error."""
    r = post(server, "/v1/classify", json={"text": "路灯坏了", "engine": "bert"})
    assert r.status_code == 422 and r.json()["field"] == "engine" and "未加载" in r.json()["error"]
    assert r.json()["error_type"] == "unknown_label"


def test_taxonomy_and_departments(server):
    tax = httpx.get(f"{server.url}/v1/taxonomy").json()
    assert tax["count"] == 15 and tax["data"][0]["children"]
    dep = httpx.get(f"{server.url}/v1/departments").json()
    assert any(u["name"] == "市综合行政执法局" and "城管" in u["aliases"] for u in dep["units"])


def test_health_ready_metrics_and_docs(server):
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200 and "tfidf" in ready.json()["engines"]
    post(server, "/v1/classify", json={"text": "出租车拒载"})
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'sqmy_items_classified_total{engine="tfidf"}' in metrics
    assert "sqmy_http_request_duration_seconds_bucket" in metrics
    assert 'sqmy_errors_total{error_type="validation"}' in metrics
    assert httpx.get(f"{server.url}/docs").status_code == 200
    assert "/v1/classify" in httpx.get(f"{server.url}/openapi.json").json()["paths"]


def test_unknown_path_is_a_json_404(server):
    r = httpx.get(f"{server.url}/v1/nothing")
    assert r.status_code == 404 and r.json()["error_type"] == "not_found"


def test_service_without_a_model_is_alive_but_not_ready(tmp_path):
    srv = Server(tmp_path / "empty-home")
    try:
        assert httpx.get(f"{srv.url}/healthz").status_code == 200
        assert httpx.get(f"{srv.url}/readyz").status_code == 503
        r = httpx.post(f"{srv.url}/v1/classify", json={"text": "路灯坏了"})
        assert r.status_code == 503 and "sqmy train" in r.json()["error"]
    finally:
        srv.stop()


def test_settings_decide_engine_and_top_k_when_the_request_does_not(home):
    """SQMY_TOP_K and SQMY_ENGINE are the defaults of every request; a request's own value still wins."""
    srv = Server(home, SQMY_TOP_K="2", SQMY_ENGINE="tfidf")
    try:
        body = post(srv, "/v1/classify", json={"text": "老板拖欠我们三个月工资"}).json()
        assert len(body["topic_candidates"]) == 2 and len(body["department_candidates"]) == 2
        assert body["engine"] == "tfidf"
        wider = post(srv, "/v1/classify", json={"text": "老板拖欠我们三个月工资", "top_k": 4}).json()
        assert len(wider["topic_candidates"]) == 4
        batch = post(srv, "/v1/classify/batch", json={"items": [{"text": "路灯坏了"}]}).json()
        assert len(batch["data"][0]["topic_candidates"]) == 2
    finally:
        srv.stop()


def test_info_lists_every_loaded_engine(server):
    body = httpx.get(f"{server.url}/v1/info", timeout=30).json()
    assert body["default_engine"] == "auto"
    assert [e["engine"] for e in body["engines"]] == ["tfidf"]
    assert body["engines"][0]["model_version"].startswith("tfidf-") and body["engines"][0]["topic_labels"] > 0
