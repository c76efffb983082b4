"""The standing robustness suite against a real server with auth on (``sqmy serve``, SQLite file):

- Schemathesis over every operation with an admin key (fixed seed, a few examples each): no 5xx, every
  status, content type and body as documented, schema-violating requests rejected;
- the bad-input table: empty, huge, wrong type, wrong encoding, invisible-only text, unknown labels →
  a 4xx JSON error in Chinese naming the field;
- the role matrix: which key role may call which operation (no key → 401, too low a role → 403).

The longer Schemathesis run is ``bench/robustness.py``."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import SQMY, Server, sqmy_env
from tests.utils.schema_fuzz import fuzz

CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_PYDANTIC = re.compile(r"Input should|Field required|valid (string|integer|number|boolean)|Expected ")
ROLES = ("editor", "trainer", "admin")


def create_key(home: Path, role: str) -> dict:
    done = subprocess.run([SQMY, "keys", "create", "--role", role, "--name", f"{role}-robust"], env=sqmy_env(home),
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, trained_home, tiny_corpus_dir):
    """A server with auth on, a key of each role, retraining on the tiny corpus."""
    import shutil

    home = tmp_path_factory.mktemp("robust-home")
    shutil.copytree(trained_home, home, dirs_exist_ok=True)
    keys = {role: create_key(home, role) for role in ROLES}
    srv = Server(home, SQMY_AUTH="on", SQMY_CORPUS_DIR=str(tiny_corpus_dir),
                 SQMY_RATE_LIMIT_RPS="0")  # the fuzzing is about answers, not about pacing one key
    srv.keys = keys  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def bearer(server, role: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.keys[role]['key']}"} if role else {}


def test_schemathesis_finds_no_server_error_and_no_schema_violation(guarded):
    report = fuzz(guarded.url, bearer(guarded, "admin"), examples=3, run_seed=15,
                  keep_key_ids=tuple(key["id"] for key in guarded.keys.values()))
    spec = httpx.get(f"{guarded.url}/openapi.json", timeout=10).json()
    operations = {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops}
    assert set(report.per_operation) == operations  # every operation was called
    assert report.server_errors == 0, report.statuses
    assert not report.failures, "\n\n".join(f"{op}:\n" + "\n".join(msgs[:2]) for op, msgs in report.failures.items())


JSON = {"content-type": "application/json"}
BAD_INPUT = [  # (method, path, request kwargs, status, field)
    # empty
    ("POST", "/v1/classify", {"json": {"text": ""}}, 422, "text"),
    ("POST", "/v1/classify", {"content": b"", "headers": JSON}, 422, "body"),
    ("POST", "/v1/classify/batch", {"json": {"items": []}}, 422, "items"),
    ("POST", "/v1/feedback", {"json": {"text": "", "topic": "城乡建设"}}, 422, "text"),
    ("POST", "/v1/keys", {"json": {"name": "   ", "role": "editor"}}, 422, "name"),
    ("POST", "/v1/batch-jobs", {"files": {"file": ("empty.csv", b"")}}, 422, "file"),
    # invisible-only text
    ("POST", "/v1/classify", {"json": {"text": "\u200b\u200c\u200d\u2060\ufeff"}}, 422, "text"),
    # a lone surrogate (JSON escape without its partner): no character, refused before segmentation sees it
    ("POST", "/v1/classify", {"content": '{"text": "\\ud800路灯坏了"}'.encode(),
                              "headers": {"content-type": "application/json"}}, 422, "text"),
    ("POST", "/v1/classify", {"content": '{"title": "\\udfff", "text": "路灯"}'.encode(),
                              "headers": {"content-type": "application/json"}}, 422, "title"),
    ("POST", "/v1/classify", {"json": {"text": "\x00 \t\n"}}, 422, "text"),
    ("POST", "/v1/explain", {"json": {"text": "\ufeff\u200b"}}, 422, "text"),
    ("POST", "/v1/classify/batch", {"json": {"items": [{"text": "路灯"}, {"text": "\u200b"}]}}, 422, "items.1.text"),
    # huge
    ("POST", "/v1/classify", {"json": {"text": "长" * 20_001}}, 413, "text"),
    ("POST", "/v1/classify", {"json": {"text": "路灯", "title": "标" * 501}}, 422, "title"),
    ("POST", "/v1/classify/batch", {"json": {"items": [{"text": "路灯"}] * 257}}, 413, "items"),
    ("POST", "/v1/feedback", {"json": {"text": "路灯坏了", "topic": "城乡建设", "note": "注" * 2001}}, 422, "note"),
    ("GET", "/v1/feedback?limit=1000000", {}, 422, "limit"),
    ("DELETE", f"/v1/keys/{2**64}", {}, 422, "key_id"),
    # wrong type
    ("POST", "/v1/classify", {"json": {"text": 123}}, 422, "text"),
    ("POST", "/v1/classify", {"json": {"text": "路灯", "top_k": "5"}}, 422, "top_k"),
    ("POST", "/v1/classify", {"json": {"text": "路灯", "top_k": 2.5}}, 422, "top_k"),
    ("POST", "/v1/classify", {"content": b'{"text": "lamp", "top_k": NaN}', "headers": JSON}, 422, "top_k"),
    ("POST", "/v1/classify", {"json": ["路灯坏了"]}, 422, "body"),
    ("POST", "/v1/classify/batch", {"json": {"items": "路灯坏了"}}, 422, "items"),
    ("POST", "/v1/explain", {"json": {"text": "路灯", "topic": 5}}, 422, "topic"),
    ("POST", "/v1/feedback", {"json": {"text": "路灯坏了", "departments": "市教育局"}}, 422, "departments"),
    ("POST", "/v1/models/rollback", {"json": {"engine": ["tfidf"]}}, 422, "engine"),
    ("POST", "/v1/models/tfidf-x/promote", {"json": {"force": "yes"}}, 422, "force"),
    ("GET", "/v1/jobs?limit=many", {}, 422, "limit"),
    ("POST", "/v1/batch-jobs", {"data": {"file": "not a file"}}, 422, "file"),
    # unknown fields and choices
    ("POST", "/v1/classify", {"json": {"text": "路灯", "colour": "red"}}, 422, "colour"),
    ("POST", "/v1/classify", {"json": {"text": "路灯", "engine": "gpt"}}, 422, "engine"),
    ("POST", "/v1/classify", {"json": {"text": "路灯", "engine": "bert"}}, 422, "engine"),  # not loaded here
    ("POST", "/v1/keys", {"json": {"name": "新人", "role": "root"}}, 422, "role"),
    ("GET", "/v1/jobs?kind=everything", {}, 422, "kind"),
    ("POST", "/v1/batch-jobs", {"files": {"file": ("archive.pdf", b"%PDF-1.4")}}, 422, "file"),
    # unknown labels
    ("POST", "/v1/feedback", {"json": {"text": "路灯坏了", "topic": "火星殖民"}}, 422, "topic"),
    ("POST", "/v1/feedback", {"json": {"text": "路灯坏了", "topic": "城乡建设",
                                       "departments": [{"name": "火星管理局", "role": "lead"}]}},
     422, "departments.0.name"),
    ("POST", "/v1/explain", {"json": {"text": "路灯坏了", "topic": "火星殖民"}}, 422, "topic"),
    # wrong encoding and malformed bodies
    ("POST", "/v1/classify", {"content": '{"text": "路灯坏了"}'.encode("gbk"), "headers": JSON}, 400, "body"),
    ("POST", "/v1/classify", {"content": '{"text": "café"}'.encode("latin-1"), "headers": JSON}, 400, "body"),
    ("POST", "/v1/feedback", {"content": b'{"text": "\xff\xfe"}', "headers": JSON}, 400, "body"),
    ("POST", "/v1/classify", {"content": b'{"text": "\\ud800"}', "headers": JSON}, 422, "text"),
    ("POST", "/v1/classify", {"content": b'{"text": "lamp"', "headers": JSON}, 400, "body"),
    ("POST", "/v1/classify", {"content": b'{"text": "x"}', "headers": {"content-type": "text/plain"}}, 422, "body"),
    ("POST", "/v1/batch-jobs", {"content": b"--b\r\nbroken", "headers": {
        "content-type": "multipart/form-data; boundary=b"}}, 422, "file"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "field"), BAD_INPUT,
                         ids=[f"{m} {p[:40]} {f} {s}" for m, p, _, s, f in BAD_INPUT])
def test_bad_input_gets_a_chinese_json_error_naming_the_field(guarded, method, path, kwargs, status, field):
    kwargs = dict(kwargs)
    headers = {**bearer(guarded, "admin"), **kwargs.pop("headers", {})}
    r = httpx.request(method, f"{guarded.url}{path}", headers=headers, timeout=30, **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["field"] == field, body
    messages = [body["error"], *(d["message"] for d in body.get("details") or [])]
    assert all(CJK.search(m) and not ENGLISH_PYDANTIC.search(m) for m in messages), messages
    if field != "body":
        assert field in body["error"]


# Every operation: the lowest role that may call it (None: public) and a request that, once past the key check,
# changes nothing (a body the validation refuses, an id that does not exist).
NOWHERE = "robustness-none"
ROLE_MATRIX: dict[str, tuple[str | None, dict]] = {
    "GET /healthz": (None, {}),
    "GET /readyz": (None, {}),
    "GET /metrics": (None, {}),
    "POST /v1/classify": ("editor", {"json": {}}),
    "POST /v1/classify/batch": ("editor", {"json": {}}),
    "POST /v1/explain": ("editor", {"json": {}}),
    "POST /v1/feedback": ("editor", {"json": {"action": "maybe"}}),
    "GET /v1/feedback": ("editor", {}),
    "GET /v1/classifications": ("editor", {}),
    "GET /v1/items": ("editor", {}),
    "GET /v1/items/export": ("editor", {"params": {"format": "pdf"}}),
    "GET /v1/taxonomy": ("editor", {}),
    "GET /v1/departments": ("editor", {}),
    "GET /v1/info": ("editor", {}),
    "GET /v1/whoami": ("editor", {}),
    "GET /v1/models": ("editor", {}),
    "GET /v1/models/{version}": ("editor", {"path": {"version": NOWHERE}}),
    "GET /v1/jobs": ("editor", {}),
    "GET /v1/jobs/{job_id}": ("editor", {"path": {"job_id": NOWHERE}}),
    "POST /v1/jobs/{job_id}/cancel": ("editor", {"path": {"job_id": NOWHERE}}),
    "POST /v1/batch-jobs": ("editor", {"data": {"engine": "tfidf"}}),
    "GET /v1/batch-jobs/{job_id}": ("editor", {"path": {"job_id": NOWHERE}}),
    "GET /v1/batch-jobs/{job_id}/result": ("editor", {"path": {"job_id": NOWHERE}}),
    "GET /v1/batch-jobs/{job_id}/errors": ("editor", {"path": {"job_id": NOWHERE}}),
    "POST /v1/models/{version}/promote": ("trainer", {"path": {"version": NOWHERE}, "json": {}}),
    "POST /v1/models/rollback": ("trainer", {"json": {"engine": "gpt"}}),
    "POST /v1/models/retrain": ("trainer", {"json": {"engine": "gpt"}}),
    "GET /v1/keys": ("admin", {}),
    "POST /v1/keys": ("admin", {"json": {"name": "", "role": "editor"}}),
    "DELETE /v1/keys/{key_id}": ("admin", {"path": {"key_id": 2**62}}),
    "GET /v1/audit": ("admin", {}),
    "POST /v1/similar": ("editor", {"json": {}}),
    "GET /v1/similar/items/{item_id}": ("editor", {"path": {"item_id": NOWHERE}}),
    "POST /v1/groups": ("editor", {"json": {}}),
    "GET /v1/groups": ("editor", {}),
    "GET /v1/groups/{group_id}": ("editor", {"path": {"group_id": NOWHERE}}),
    "POST /v1/groups/{group_id}/items": ("editor", {"path": {"group_id": NOWHERE}, "json": {}}),
    "DELETE /v1/groups/{group_id}/items/{item_id}": ("editor", {"path": {"group_id": NOWHERE, "item_id": NOWHERE}}),
    "PUT /v1/groups/{group_id}/lead": ("editor", {"path": {"group_id": NOWHERE}, "json": {}}),
    "GET /v1/hotspots": ("editor", {}),
}


def test_the_role_matrix_covers_every_operation(guarded):
    spec = httpx.get(f"{guarded.url}/openapi.json", timeout=10).json()
    assert {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops} == set(ROLE_MATRIX)


@pytest.mark.parametrize("caller", [None, "wrong", *ROLES])
@pytest.mark.parametrize("operation", sorted(ROLE_MATRIX))
def test_role_matrix(guarded, operation, caller):
    lowest, request = ROLE_MATRIX[operation]
    method, template = operation.split(" ", 1)
    path = template.format(**request.get("path", {}))
    headers = {"Authorization": "Bearer sqmy_not-a-key"} if caller == "wrong" else bearer(guarded, caller)
    r = httpx.request(method, f"{guarded.url}{path}", headers=headers, timeout=30,
                      **{k: v for k, v in request.items() if k != "path"})
    if lowest is None:
        assert r.status_code == 200
    elif caller in (None, "wrong"):
        assert r.status_code == 401 and r.json()["field"] == "Authorization" and CJK.search(r.json()["error"])
        assert r.headers["www-authenticate"] == "Bearer"
    elif ROLES.index(caller) < ROLES.index(lowest):
        assert r.status_code == 403 and "权限不足" in r.json()["error"], r.text
    else:
        assert r.status_code not in (401, 403), r.text
        assert r.status_code < 500, r.text


def test_an_editor_may_not_cancel_a_training_job(guarded):
    """The one operation whose role depends on the object: cancelling a retrain job needs a trainer."""
    started = httpx.post(f"{guarded.url}/v1/models/retrain", headers=bearer(guarded, "trainer"), json={},
                         timeout=30)
    assert started.status_code in (202, 409), started.text
    job = started.json() if started.status_code == 202 else started.json()["job"]
    denied = httpx.post(f"{guarded.url}/v1/jobs/{job['id']}/cancel", headers=bearer(guarded, "editor"), timeout=30)
    assert denied.status_code == 403 and "训练员" in denied.json()["error"]
    allowed = httpx.post(f"{guarded.url}/v1/jobs/{job['id']}/cancel", headers=bearer(guarded, "trainer"), timeout=30)
    assert allowed.status_code == 200
