"""Batch jobs over HTTP: upload an archive, watch the job, download results and errors."""

from __future__ import annotations

import csv
import io

import httpx

from tests.service.api.test_retraining import call, wait_for_job


def test_upload_progress_and_download(server):
    rows = ["编号,标题,留言详情"] + [f"a-{n},路灯,小区路灯坏了第{n}天" for n in range(30)] + ["a-bad,空正文,"]
    upload = {"file": ("2023年工单.csv", "\n".join(rows).encode("gb18030"), "text/csv")}
    r = call(server, "POST", "/v1/batch-jobs", files=upload, data={"engine": "tfidf"})
    assert r.status_code == 202, r.text
    job = wait_for_job(server, r.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"]["done"] == job["progress"]["total"]
    assert job["result"]["classified"] == 30 and job["result"]["errors"] == 1
    assert job["params"]["filename"] == "2023年工单.csv"

    result = call(server, "GET", f"/v1/batch-jobs/{job['id']}/result")
    assert result.status_code == 200
    assert "attachment" in result.headers["content-disposition"]
    assert result.content.startswith("\ufeff".encode())  # Excel on Chinese Windows reads it as UTF-8
    out = list(csv.DictReader(io.StringIO(result.content.decode("utf-8-sig"))))
    assert [row["编号"] for row in out] == [f"a-{n}" for n in range(30)]  # input order, originals kept
    assert all(row["预测分类"] and row["预测主办单位"] for row in out)  # Chinese headers, 是/否
    assert {row["需复核"] for row in out} <= {"是", "否"}
    assert job["result"]["topics"] and job["result"]["first_error"] == "字段 留言详情 缺失或为空"
    errors = call(server, "GET", f"/v1/batch-jobs/{job['id']}/errors")
    assert errors.status_code == 200 and "a-bad" in errors.text
    listed = call(server, "GET", "/v1/jobs", params={"kind": "batch"}).json()["data"]
    assert job["id"] in [j["id"] for j in listed]


def test_bad_uploads_are_rejected_naming_the_field(server):
    wrong = call(server, "POST", "/v1/batch-jobs", files={"file": ("notes.docx", b"PK..", "application/zip")})
    assert wrong.status_code == 422 and wrong.json()["field"] == "file" and ".docx" in wrong.json()["error"]
    empty = call(server, "POST", "/v1/batch-jobs", files={"file": ("empty.csv", b"", "text/csv")})
    assert empty.status_code == 422 and empty.json()["field"] == "file"
    missing = call(server, "POST", "/v1/batch-jobs", data={"engine": "tfidf"})
    assert missing.status_code == 422 and missing.json()["field"] == "file"
    assert call(server, "GET", "/v1/batch-jobs/batch-nope").status_code == 404
    assert httpx.get(f"{server.url}/v1/batch-jobs/batch-nope/result", timeout=10).json()["error_type"] == "not_found"


def test_a_file_without_a_text_column_fails_saying_why(server):
    rows = ["编号,备注"] + [f"b-{n},无正文" for n in range(20)]
    upload = {"file": ("无正文.csv", "\n".join(rows).encode("utf-8"), "text/csv")}
    job = wait_for_job(server, call(server, "POST", "/v1/batch-jobs", files=upload).json()["id"])
    assert job["status"] == "failed"
    assert "找不到正文列" in job["error"] and "正文列" in job["error"]
