"""What a failed background job shows its user."""

from sqmy.app.jobs import failure_message

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
