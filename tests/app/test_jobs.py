"""What a failed background job shows its user; batch jobs of different users run side by side."""

import os
import time

from sqmy.app.jobs import FINISHED, JobManager, failure_message, subprocess_env
from sqmy.app.storage import make_engine

TRACEBACK = """已处理 0 条
Traceback (most recent call last):
  File "/srv/sqmy/.venv/lib/python3.11/site-packages/openpyxl/reader/excel.py", line 95, in _validate_archive
zipfile.BadZipFile: File is not a zip file
"""


def test_a_crash_shows_no_traceback_and_no_server_path():
    message = failure_message(TRACEBACK, 1)
    assert "Traceback" not in message and "/srv" not in message and "退出码 1" in message


def test_the_commands_own_message_is_kept_with_file_names_only():
    log = "已处理 3 条\n错误：输入文件不存在：/srv/sqmy/var/jobs/j-1/上传.csv\n"
    assert failure_message(log, 2) == "错误：输入文件不存在：上传.csv"
    assert failure_message("错误：没有可用的训练数据\n", 2) == "错误：没有可用的训练数据"


def _wait(manager, job_id, seconds=120):
    deadline = time.monotonic() + seconds
    while (job := manager.get(job_id))["status"] not in FINISHED and time.monotonic() < deadline:
        time.sleep(0.1)
    return job


def test_a_second_users_small_job_finishes_while_a_first_users_long_job_runs(home, tmp_path):
    url = f"sqlite:///{tmp_path / 'sqmy.db'}"
    db = make_engine(url)
    manager = JobManager(db, tmp_path / "jobs", subprocess_env(home, url), batch_parallel=2)
    small = tmp_path / "small.csv"
    small.write_text("编号,留言详情\na-1,小区路灯坏了一个多月\n", encoding="utf-8")
    stuck = tmp_path / "stuck.csv"
    os.mkfifo(stuck)  # the long job's output: opening it waits for a reader that never comes

    def batch(out):
        return lambda _d: ["batch", str(small), str(out), "--engine", "tfidf", "--quiet"]

    try:
        long = manager.submit("batch", {}, batch(stuck), "甲")["id"]
        later_of_same_user = manager.submit("batch", {}, batch(tmp_path / "a2.csv"), "甲")["id"]
        other = manager.submit("batch", {}, batch(tmp_path / "b.csv"), "乙")["id"]
        assert _wait(manager, other)["status"] == "succeeded"
        assert manager.get(long)["status"] == "running"
        assert manager.get(later_of_same_user)["status"] == "queued"  # one job per user at a time
        manager.cancel(long, "甲")
        assert _wait(manager, later_of_same_user)["status"] == "succeeded"
        assert _wait(manager, long)["status"] == "cancelled"
    finally:
        manager.close()
        db.dispose()
