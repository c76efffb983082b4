"""Limits before a body is read (401 / 413 / 429), against a real server: what an unauthenticated or oversized
request sends is never read, a chunked body is cut off at its limit, and a busy key is told when to come back."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import Server
from tests.service.api.test_retraining import _key, call, wait_for_job
from tests.utils.raw_xlsx import bomb_xlsx

BODY_KB, UPLOAD_MB, BURST = 64, 1, 20
BLOCK = 64 << 10


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, trained_home):
    home = tmp_path_factory.mktemp("limits-home")
    shutil.copytree(trained_home, home, dirs_exist_ok=True)
    srv = Server(home, SQMY_AUTH="on", SQMY_MAX_BODY_KB=str(BODY_KB), SQMY_MAX_UPLOAD_MB=str(UPLOAD_MB),
                 SQMY_RATE_LIMIT_RPS="0.01", SQMY_RATE_LIMIT_BURST=str(BURST))
    yield srv
    srv.stop()


def _open(server: Server, head: str) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(head.encode() + b"\r\n")
    return sock


def _response(sock: socket.socket) -> tuple[int, dict[str, str], str]:
    """Read the answer until the server closes the connection (it must: the body was not read)."""
    data = b""
    while chunk := sock.recv(1 << 16):
        data += chunk
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body.decode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _request(path: str, key: str | None, *extra: str) -> str:
    auth = [f"Authorization: Bearer {key}"] if key else []
    return "\r\n".join([f"POST {path} HTTP/1.1", "Host: sqmy", *auth, *extra, ""])


def test_a_huge_body_without_a_key_is_refused_unread(guarded):
    server_process = psutil.Process(guarded.process.pid)
    before = server_process.memory_info().rss
    # answered before a byte of the 200 MB it announces was sent, and the connection closed: it is never read
    declared = _open(guarded, _request("/v1/classify", None, "Content-Type: application/json",
                                       f"Content-Length: {200 << 20}"))
    status, headers, body = _response(declared)
    assert status == 401 and "API 密钥" in body and headers["connection"] == "close"

    streamed = _open(guarded, _request("/v1/classify/batch", "sqmy_made-up", "Content-Type: application/json",
                                       "Transfer-Encoding: chunked"))
    status, _, body = _response(streamed)
    assert status == 401 and "无效" in body
    assert server_process.memory_info().rss - before < 50 << 20


def test_a_body_over_the_limit_gets_413_naming_the_limit(guarded):
    key = _key(guarded.home, "editor")
    declared = _open(guarded, _request("/v1/classify", key, "Content-Type: application/json",
                                       f"Content-Length: {(BODY_KB << 10) + 1}"))
    status, _, body = _response(declared)  # answered before a byte of the body was sent
    assert status == 413 and f"{BODY_KB} KB" in body and "SQMY_MAX_BODY_KB" in body

    streamed = _open(guarded, _request("/v1/feedback", key, "Content-Type: application/json",
                                       "Transfer-Encoding: chunked"))
    for _ in range(BODY_KB // 64 + 1):  # the last block crosses the limit
        streamed.sendall(_chunk(b" " * BLOCK))
    streamed.sendall(b"0\r\n\r\n")
    status, _, body = _response(streamed)
    assert status == 413 and "SQMY_MAX_BODY_KB" in body
    small = call(guarded, "POST", "/v1/classify", key, json={"text": "小区路灯坏了" * 100})
    assert small.status_code == 200, small.text


def _upload_head(key: str, boundary: str, *extra: str) -> str:
    return _request("/v1/batch-jobs", key, f"Content-Type: multipart/form-data; boundary={boundary}", *extra)


def _part_head(boundary: str) -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"大文件.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\n编号,留言详情\r\n").encode()


def _spooled_under(pid: int, directory: Path) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    return any(os.readlink(fd).startswith(str(directory)) for fd in fds.iterdir() if fd.is_symlink())


def test_a_chunked_upload_spools_under_home_and_is_cut_off_at_the_limit(guarded):
    key, boundary = _key(guarded.home, "editor"), "sqmy-test-boundary"
    declared = _open(guarded, _upload_head(key, boundary, f"Content-Length: {(UPLOAD_MB + 2) << 20}"))
    status, _, body = _response(declared)
    assert status == 413 and f"{UPLOAD_MB} MB" in body and "SQMY_MAX_UPLOAD_MB" in body

    streamed = _open(guarded, _upload_head(key, boundary, "Transfer-Encoding: chunked"))
    streamed.sendall(_chunk(_part_head(boundary)))
    row = "a-1,小区路灯坏了一个多月\r\n".encode()
    block = row * (BLOCK // len(row))
    sent = 0
    while sent < (UPLOAD_MB << 20) + (512 << 10):  # past the in-memory spool (1 MB): a file now, under SQMY_HOME
        streamed.sendall(_chunk(block))
        sent += len(block)
    deadline, spool = time.monotonic() + 30, (guarded.home / "tmp").resolve()
    while not _spooled_under(guarded.process.pid, spool) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _spooled_under(guarded.process.pid, spool)
    while sent <= ((UPLOAD_MB + 1) << 20):
        streamed.sendall(_chunk(block))
        sent += len(block)
    streamed.sendall(b"0\r\n\r\n")
    status, _, body = _response(streamed)
    assert status == 413 and "SQMY_MAX_UPLOAD_MB" in body
    assert not _spooled_under(guarded.process.pid, spool)  # the spool went with the request


def test_a_key_past_its_rate_gets_429_with_retry_after(guarded):
    key, other = _key(guarded.home, "editor"), _key(guarded.home, "editor")
    answers = [call(guarded, "GET", "/v1/whoami", key) for _ in range(BURST)]
    assert all(r.status_code == 200 for r in answers)
    refused = call(guarded, "GET", "/v1/whoami", key)
    assert refused.status_code == 429 and refused.json()["error_type"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1 and "请求过于频繁" in refused.json()["error"]
    assert call(guarded, "GET", "/v1/whoami", other).status_code == 200  # each key has its own budget
    assert call(guarded, "GET", "/healthz").status_code == 200  # health checks are not rate limited


def test_a_bomb_archive_fails_its_job_with_a_clear_message(guarded, tmp_path):
    key = _key(guarded.home, "editor")
    bomb = bomb_xlsx(tmp_path / "炸弹.xlsx")
    r = call(guarded, "POST", "/v1/batch-jobs", key, files={"file": (bomb.name, bomb.read_bytes())},
             data={"engine": "tfidf"})
    assert r.status_code == 202, r.text
    job = wait_for_job(guarded, r.json()["id"], key)
    assert job["status"] == "failed" and "压缩比" in job["error"] and "疑似压缩炸弹" in job["error"]
