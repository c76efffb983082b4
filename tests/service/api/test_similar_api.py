"""/v1/similar, classify with similar, merge groups and hotspots against a real server and SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server
from tests.utils.similar import classify_report, reports, with_projection
from tests.utils.similar import similar_server as start_similar_server


@pytest.fixture(scope="module")
def similar_server(tmp_path_factory: pytest.TempPathFactory, trained_home: Path) -> Iterator[Server]:
    srv = start_similar_server(trained_home, tmp_path_factory.mktemp("similar-home"))
    yield srv
    srv.stop()


def test_classified_items_are_found_again_and_survive_a_restart(home):
    similar_server = Server(with_projection(home), SQMY_SIMILAR="on")
    try:
        _found_again_after_restart(similar_server)
    finally:
        similar_server.stop()


def _found_again_after_restart(similar_server: Server) -> None:
    stored = [classify_report(similar_server, r) for r in reports("m001")]
    first = reports("m001")[0]
    again = classify_report(similar_server, first, similar=5)
    assert again["similar"][0]["id"] == stored[0]["classification_id"]
    assert again["similar"][0]["kind"] == "duplicate"
    assert {"score", "title", "snippet", "topic", "lead", "date", "verdict"} <= set(again["similar"][0])
    plain = classify_report(similar_server, first)
    assert "similar" not in plain  # not asked for: not looked up

    similar_server.stop()  # SIGTERM: the index writes its snapshot
    restarted = Server(similar_server.home, SQMY_SIMILAR="on")
    try:
        body = httpx.post(f"{restarted.url}/v1/similar", json={"id": stored[1]["classification_id"]}, timeout=60)
        assert body.status_code == 200, body.text
        ids = [d["id"] for d in body.json()["data"]]
        assert stored[1]["classification_id"] not in ids  # not itself
        assert stored[0]["classification_id"] in ids
    finally:
        restarted.stop()


def test_bad_requests_name_the_field(similar_server):
    missing = httpx.post(f"{similar_server.url}/v1/similar", json={"title": "只有标题"}, timeout=30)
    assert missing.status_code == 422 and missing.json()["field"] == "text"
    unknown = httpx.post(f"{similar_server.url}/v1/similar", json={"id": "c-nothing"}, timeout=30)
    assert unknown.status_code == 404 and unknown.json()["field"] == "id"
    too_many = httpx.post(f"{similar_server.url}/v1/classify", json={"text": "路灯坏了", "similar": 99}, timeout=30)
    assert too_many.status_code == 422 and "similar" in too_many.json()["field"]


def test_a_verdict_shows_in_the_similar_answer(similar_server):
    report = reports("m021")[0]
    stored = classify_report(similar_server, report)
    verdict = httpx.post(f"{similar_server.url}/v1/feedback", json={
        "classification_id": stored["classification_id"], "action": "correct", "topic": "商贸旅游/质监检验检疫",
        "departments": [{"name": "市市场监督管理局", "role": "lead"}]}, timeout=30)
    assert verdict.status_code == 201, verdict.text
    found = httpx.post(f"{similar_server.url}/v1/similar", json={"title": report["title"], "text": report["text"]},
                       timeout=30).json()["data"][0]
    assert (found["id"], found["verdict"]) == (stored["classification_id"], "correct")
    assert found["lead"] == "市市场监督管理局"


def test_merge_group_is_stored_audited_and_suggests_its_lead_unit(similar_server):
    url = similar_server.url
    ids = [classify_report(similar_server, r)["classification_id"]
           for r in reports("m007")[:3]]
    created = httpx.post(f"{url}/v1/groups", json={"items": ids[:2], "lead_unit": "市人力资源和社会保障局",
                                                   "title": "鑫达建筑欠薪"}, timeout=30)
    assert created.status_code == 201, created.text
    group = created.json()
    assert group["lead_item"] == ids[0] and group["size"] == 2
    added = httpx.post(f"{url}/v1/groups/{group['id']}/items", json={"items": [ids[2]]}, timeout=30).json()
    assert added["size"] == 3
    refused = httpx.delete(f"{url}/v1/groups/{group['id']}/items/{ids[0]}", timeout=30)
    assert refused.status_code == 409  # the lead item stays until another is chosen
    lead = httpx.put(f"{url}/v1/groups/{group['id']}/lead", json={"lead_item": ids[1]}, timeout=30).json()
    assert lead["lead_item"] == ids[1] and lead["lead_unit"]
    removed = httpx.delete(f"{url}/v1/groups/{group['id']}/items/{ids[0]}", timeout=30).json()
    assert removed["size"] == 2
    clash = httpx.post(f"{url}/v1/groups", json={"items": [ids[1], ids[2]]}, timeout=30)
    assert clash.status_code == 409
    assert httpx.get(f"{url}/v1/groups/g-nothing", timeout=30).status_code == 404

    audit = httpx.get(f"{url}/v1/audit", params={"action": "group"}, timeout=30).json()["data"]
    assert [e["action"] for e in audit][:4] == ["group.remove", "group.lead", "group.add", "group.create"]
    assert all(e["target"] == group["id"] for e in audit[:4])

    new = reports("m007")[3]
    answer = classify_report(similar_server, new, similar=3)
    assert answer["merge_group"]["group_id"] == group["id"]
    assert answer["merge_group"]["lead_unit"] == lead["lead_unit"]


def test_hotspots_rank_the_matters_reported_most(similar_server):
    for matter in ("m004", "m013"):
        for r in reports(matter):
            classify_report(similar_server, r)
    body = httpx.get(f"{similar_server.url}/v1/hotspots", timeout=60)
    assert body.status_code == 200, body.text
    rows = body.json()["data"]
    assert rows and rows[0]["size"] >= 2
    expected = {"rank", "size", "growth", "recent", "previous", "topic", "places", "first_date", "last_date"}
    assert expected <= set(rows[0])
    sizes = [r["size"] for r in rows]
    assert sizes == sorted(sizes, reverse=True)
    bad = httpx.get(f"{similar_server.url}/v1/hotspots", params={"from": "2026-06-01", "to": "2026-05-01"})
    assert bad.status_code == 422 and bad.json()["field"] == "from"
