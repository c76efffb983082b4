"""The retraining journey over HTTP against a real server and SQLite file: feedback → retrain job → gate →
promote / rollback with hot reload, and API keys with roles."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import httpx
import pytest

from sqmy.models import ModelRegistry, load_engine
from sqmy.training.data import corpus_files, load_items
from sqmy.training.train import train_and_register
from tests.conftest import SQMY, Server, sqmy_env


def call(server, method, path, key=None, **kwargs):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.request(method, f"{server.url}{path}", headers=headers, timeout=60, **kwargs)


def wait_for_job(server, job_id, key=None, seconds=240):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = call(server, "GET", f"/v1/jobs/{job_id}", key).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


@pytest.fixture
def live(home, tiny_corpus_dir):
    """A private server whose retraining uses the tiny corpus."""
    srv = Server(home, SQMY_CORPUS_DIR=str(tiny_corpus_dir), SQMY_RELOAD_SECONDS="0.5")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def refusing(tmp_path_factory, trained_home, tiny_corpus_dir):
    """One server for the refused verdicts: each case checks that nothing was stored, so they may share it (one start
    instead of one per case)."""
    import shutil

    home = tmp_path_factory.mktemp("refusing-home")
    shutil.copytree(trained_home, home, dirs_exist_ok=True)
    srv = Server(home, SQMY_CORPUS_DIR=str(tiny_corpus_dir), SQMY_RELOAD_SECONDS="0.5")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def storing(tmp_path_factory, trained_home):
    """One server for the verdicts that are checked by their own answer only (they count nothing)."""
    import shutil

    home = tmp_path_factory.mktemp("storing-home")
    shutil.copytree(trained_home, home, dirs_exist_ok=True)
    srv = Server(home)
    yield srv
    srv.stop()


def test_feedback_is_stored_with_an_audit_trail(live):
    suggestion = call(live, "POST", "/v1/classify", json={"id": "m-1", "text": "小区物业不修电梯，物业费还涨价"}).json()
    r = call(live, "POST", "/v1/feedback", json={
        "classification_id": suggestion["classification_id"], "topic": "城乡建设/住房保障与房地产",
        "departments": [{"name": "住建局", "role": "lead"}, {"name": "城东街道", "role": "assist"}],
        "editor": "王编辑", "note": "物业归住建"})
    assert r.status_code == 201, r.text
    stored = r.json()
    assert stored["item_id"] == "m-1" and stored["topic_path"] == ["城乡建设", "住房保障与房地产"]
    assert stored["departments"][0] == {"name": "市住房和城乡建设局", "role": "lead"}  # alias resolved
    assert stored["previous"]["model_version"] == suggestion["model_version"]  # what it was before

    listed = call(live, "GET", "/v1/feedback", params={"item_id": "m-1"}).json()
    assert listed["count"] == 1 and listed["data"][0]["editor"] == "王编辑"
    recent = call(live, "GET", "/v1/classifications", params={"limit": 5}).json()["data"]
    assert recent[0]["classification_id"] == suggestion["classification_id"]
    assert recent[0]["feedback"]["topic_path"] == ["城乡建设", "住房保障与房地产"]

    with sqlite3.connect(live.home / "sqmy.db") as conn:
        rows = conn.execute("select item_id, editor, action from feedback").fetchall()
        events = conn.execute("select actor, action, target from audit_events").fetchall()
    assert rows == [("m-1", "王编辑", "correct")]
    assert ("本地用户", "feedback.correct", "m-1") in events


def test_a_town_may_lead_and_a_level3_correction_is_kept(storing):
    r = call(storing, "POST", "/v1/feedback", json={
        "text": "青石镇上街村的村道坑坑洼洼", "topic": ["城乡建设", "村镇建设", "新农村建设"],
        "departments": [{"name": "青石镇", "role": "lead"}]})
    assert r.status_code == 201, r.text
    assert r.json()["topic_path"] == ["城乡建设", "村镇建设", "新农村建设"]
    assert r.json()["departments"] == [{"name": "青石镇", "role": "lead"}]


def test_accept_takes_the_suggestion(storing):
    suggestion = call(storing, "POST", "/v1/classify", json={"text": "老板拖欠工资三个月"}).json()
    r = call(storing, "POST", "/v1/feedback", json={"classification_id": suggestion["classification_id"],
                                                 "action": "accept"})
    assert r.status_code == 201, r.text
    assert r.json()["topic_path"] == suggestion["topic_path"]
    assert r.json()["departments"][0]["name"] == suggestion["departments"][0]["name"]


def test_a_retried_verdict_with_its_idempotency_key_is_stored_once(live):
    verdict = {"item_id": "i-1", "text": "公交车晚点严重", "topic": "交通运输", "editor": "王编辑"}

    def post(body):
        return httpx.post(f"{live.url}/v1/feedback", json=body, headers={"Idempotency-Key": "5b1c-retry"}, timeout=60)

    first, again = post(verdict), post(verdict)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json() and again.headers["Idempotency-Replayed"] == "true"
    changed = post(verdict | {"topic": "教育文体"})
    assert changed.status_code == 422 and changed.json()["field"] == "Idempotency-Key"
    assert "Idempotency-Key" in changed.json()["error"] and "不同" in changed.json()["error"]
    assert call(live, "GET", "/v1/feedback").json()["count"] == 1
    assert call(live, "GET", "/v1/audit", params={"action": "feedback"}).json()["count"] == 1
    header = next(p for p in call(live, "GET", "/openapi.json").json()["paths"]["/v1/feedback"]["post"]["parameters"]
                  if p["name"] == "Idempotency-Key")
    assert header["in"] == "header" and not header["required"]


@pytest.mark.parametrize(("payload", "field", "error_type"), [
    ({"text": "路灯坏了", "topic": "外星事务"}, "topic", "unknown_label"),
    ({"text": "路灯坏了", "topic": "城乡建设/不存在的二级"}, "topic", "unknown_label"),
    ({"text": "路灯坏了", "departments": [{"name": "火星局", "role": "lead"}]}, "departments.0.name", "unknown_label"),
    ({"text": "路灯坏了", "topic": "城乡建设/城市建设和市政管理/不存在的三级"}, "topic", "unknown_label"),
    ({"text": "路灯坏了", "departments": [{"name": "市交通运输局", "role": "lead"},
                                          {"name": "市教育局", "role": "lead"}]}, "departments.1.role", "validation"),
    ({"text": "路灯坏了", "departments": [{"name": "市交通运输局", "role": "boss"}]}, "departments.0.role",
     "validation"),
    ({"topic": "城乡建设"}, "text", "validation"),
    ({"text": "路灯坏了"}, "topic", "validation"),
    ({"classification_id": "c-0000", "action": "accept"}, "classification_id", "validation"),
])
def test_bad_feedback_is_rejected_naming_the_field(refusing, payload, field, error_type):
    r = call(refusing, "POST", "/v1/feedback", json=payload)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and r.json()["error_type"] == error_type
    assert call(refusing, "GET", "/v1/feedback").json()["count"] == 0  # nothing half-stored


def test_retrain_job_learns_a_new_label_and_the_service_picks_it_up(live, labels):
    registry = ModelRegistry(live.home / "models")
    before = registry.current("tfidf")
    known = set(load_engine(registry.path(before)).topic_l1_classes_)
    new_topic = next(t for t in labels.taxonomy.level1 if t not in known)  # in the taxonomy, not yet in the model
    texts = ["关于某某事项的第一条反映，请有关部门重视", "关于某某事项的第二条反映，群众意见很大",
             "关于某某事项的第三条反映，希望尽快解决"]
    for n, text in enumerate(texts):
        r = call(live, "POST", "/v1/feedback", json={"item_id": f"new-{n}", "text": text, "topic": new_topic})
        assert r.status_code == 201, r.text

    r = call(live, "POST", "/v1/models/retrain", json={"engine": "tfidf", "promote": "force"})
    assert r.status_code == 202, r.text
    assert call(live, "POST", "/v1/models/retrain", json={"engine": "tfidf"}).status_code == 409  # one at a time
    job = wait_for_job(live, r.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"]["stage"] == "完成"
    result = job["result"]["engines"]["tfidf"]
    assert result["promoted"] and result["version"] != before and job["result"]["corrections"] == 3

    models = call(live, "GET", "/v1/models").json()
    assert models["current"]["tfidf"] == result["version"]
    detail = call(live, "GET", f"/v1/models/{result['version']}").json()
    assert new_topic in detail["labels"]["topic_l1"] and detail["parent"] == before
    for _ in range(100):  # the running service switches within SQMY_RELOAD_SECONDS
        answer = call(live, "POST", "/v1/classify", json={"text": texts[0]}).json()
        if answer["model_version"] == result["version"]:
            break
        time.sleep(0.1)
    assert answer["model_version"] == result["version"]


def _worse_model(home, tiny_corpus_dir, labels):
    """A candidate trained on scrambled topics: clearly worse than the current model."""
    items = load_items(corpus_files(tiny_corpus_dir), labels).items
    l1 = sorted({i.topic_l1 for i in items})
    scrambled = [i.__class__(**{**i.__dict__, "topic_l1": l1[(l1.index(i.topic_l1) + 1) % len(l1)],
                                "topic_l2": None}) for i in items]
    registry = ModelRegistry(home / "models")
    # evaluate on the real labels: the candidate's eval split is what the gate compares on
    meta = train_and_register("tfidf", scrambled, registry, eval_fraction=0.0, promote=False, log=lambda _m: None)
    from sqmy.training.train import write_eval_items

    write_eval_items(registry.path(meta["version"]) / "eval.jsonl", items)
    return meta["version"]


def test_gate_refuses_a_worse_model_unless_forced_and_rollback_restores(live, tiny_corpus_dir, labels):
    registry = ModelRegistry(live.home / "models")
    original = registry.current("tfidf")
    worse = _worse_model(live.home, tiny_corpus_dir, labels)

    refused = call(live, "POST", f"/v1/models/{worse}/promote", json={})
    assert refused.status_code == 409, refused.text
    report = refused.json()["report"]
    assert not report["passed"] and report["macro_f1"]["delta"] < -0.01
    assert any(row["delta"] is not None and row["delta"] < 0 for row in report["per_class"].values())
    assert "宏平均 F1 下降" in refused.json()["error"]
    assert registry.current("tfidf") == original

    forced = call(live, "POST", f"/v1/models/{worse}/promote", json={"force": True})
    assert forced.status_code == 200 and forced.json()["forced"]
    assert call(live, "POST", "/v1/classify", json={"text": "出租车拒载"}).json()["model_version"] == worse

    back = call(live, "POST", "/v1/models/rollback", json={"engine": "tfidf"})
    assert back.status_code == 200 and back.json()["version"] == original
    assert call(live, "POST", "/v1/classify", json={"text": "出租车拒载"}).json()["model_version"] == original
    assert [e["action"] for e in registry.history("tfidf")][-2:] == ["promote", "rollback"]
    assert call(live, "POST", "/v1/models/nope/promote", json={}).status_code == 404


def test_no_request_fails_while_models_are_swapped(live, tiny_corpus_dir, labels):
    registry = ModelRegistry(live.home / "models")
    original = registry.current("tfidf")
    other = _worse_model(live.home, tiny_corpus_dir, labels)
    failures, versions, stop = [], set(), threading.Event()

    def traffic():
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                r = client.post(f"{live.url}/v1/classify", json={"text": "学校乱收费，强制订购教辅"})
                if r.status_code != 200:
                    failures.append(r.status_code)
                else:
                    versions.add(r.json()["model_version"])

    threads = [threading.Thread(target=traffic) for _ in range(4)]
    for t in threads:
        t.start()
    for target in (other, original, other, original):
        r = call(live, "POST", f"/v1/models/{target}/promote", json={"force": True})
        assert r.status_code == 200, r.text
        time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    assert not failures
    assert versions == {original, other}


def test_cancel_a_running_retrain(home):
    srv = Server(home)  # the full bundled corpus: long enough to cancel mid-way
    try:
        job = call(srv, "POST", "/v1/models/retrain", json={"engine": "tfidf"}).json()
        for _ in range(200):
            if call(srv, "GET", f"/v1/jobs/{job['id']}").json()["status"] == "running":
                break
            time.sleep(0.05)
        assert call(srv, "POST", f"/v1/jobs/{job['id']}/cancel").status_code == 200
        done = wait_for_job(srv, job["id"], seconds=30)
        assert done["status"] == "cancelled"
        assert len(ModelRegistry(home / "models").versions()) == 1  # no half-written version
    finally:
        srv.stop()


def _key(home, role):
    import subprocess

    done = subprocess.run([SQMY, "keys", "create", "--role", role, "--name", f"{role}-测试"],
                          env=sqmy_env(home), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)["key"]


def test_api_keys_and_roles(home):
    editor, trainer, admin = _key(home, "editor"), _key(home, "trainer"), _key(home, "admin")
    with sqlite3.connect(home / "sqmy.db") as conn:
        stored = [r[0] for r in conn.execute("select key_hash from api_keys")]
    assert editor not in stored and len(stored[0]) == 64  # hashed at rest
    srv = Server(home, SQMY_AUTH="on")
    try:
        assert call(srv, "GET", "/healthz").status_code == 200  # probes stay open
        missing = call(srv, "POST", "/v1/classify", json={"text": "路灯坏了"})
        assert missing.status_code == 401 and missing.json()["field"] == "Authorization"
        assert call(srv, "POST", "/v1/classify", "sqmy_wrong", json={"text": "路灯坏了"}).status_code == 401
        assert call(srv, "POST", "/v1/classify", editor, json={"text": "路灯坏了"}).status_code == 200
        assert call(srv, "GET", "/v1/whoami", editor).json()["role"] == "editor"
        fixed = call(srv, "POST", "/v1/feedback", editor, json={"text": "路灯坏了", "topic": "城乡建设"})
        assert fixed.status_code == 201 and fixed.json()["editor"] == "editor-测试"
        denied = call(srv, "POST", "/v1/models/retrain", editor, json={})
        assert denied.status_code == 403 and "训练员" in denied.json()["error"]
        current = ModelRegistry(home / "models").current("tfidf")
        assert call(srv, "POST", f"/v1/models/{current}/promote", trainer, json={}).status_code == 200
        assert call(srv, "GET", "/v1/keys", trainer).status_code == 403
        created = call(srv, "POST", "/v1/keys", admin, json={"name": "新编辑", "role": "editor"})
        assert created.status_code == 201
        new_key = created.json()["key"]
        assert call(srv, "GET", "/v1/whoami", new_key).json()["name"] == "新编辑"
        assert call(srv, "DELETE", f"/v1/keys/{created.json()['id']}", admin).status_code == 200
        assert call(srv, "GET", "/v1/whoami", new_key).status_code == 401
        huge = call(srv, "DELETE", f"/v1/keys/{2**63}", admin)  # past SQLite's integers: a 422, not a 500
        assert huge.status_code == 422 and huge.json()["field"] == "key_id"
        trail = call(srv, "GET", "/v1/audit", admin, params={"action": "key"}).json()["data"]
        assert [(e["action"], e["actor"]) for e in trail[:2]] == [("key.revoke", "admin-测试"),
                                                                   ("key.create", "admin-测试")]
        assert call(srv, "GET", "/v1/audit", trainer).status_code == 403
    finally:
        srv.stop()


def test_auth_is_on_by_default_off_loopback(home):
    srv = Server(home, SQMY_HOST="0.0.0.0")
    try:
        assert call(srv, "GET", "/v1/whoami").status_code == 401
    finally:
        srv.stop()
    srv = Server(home)
    try:
        assert call(srv, "GET", "/v1/whoami").json() == {"auth": False, "name": "本地用户", "role": "admin",
                                                          "role_name": "管理员"}
    finally:
        srv.stop()
