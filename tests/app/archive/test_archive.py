"""``sqmy batch`` on whole archives: formats, columns, labels, summary, errors, resume after kill -9, workers, Ray."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from itertools import cycle, islice
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook, load_workbook

from tests.conftest import SQMY, sqmy_env
from tests.utils.tiny_corpus import ITEMS

FLAT = {"topic", "topic_path", "topic_confidence", "lead", "assists", "engine", "model_version", "needs_review"}


def sqmy(home: Path, *args: object, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([SQMY, *map(str, args)], env=sqmy_env(home, **env), capture_output=True, timeout=300)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def archive(n: int, repeat: int = 1) -> list[dict[str, str]]:
    """``n`` rows cycled from the tiny corpus (texts ``repeat`` times), with unique ids and the archive's labels."""
    return [{"id": f"r{i}", "title": title, "text": text * repeat, "topic": l1, "lead": lead}
            for i, (title, text, l1, _l2, lead, _assists) in enumerate(islice(cycle(ITEMS), n))]


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict[str, str]], encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[dict[str, object]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(rows[0]))
    for row in rows:
        sheet.append(list(row.values()))
    workbook.save(path)
    return path


def write_parquet(path: Path, rows: list[dict[str, object]]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=7)
    return path


def read_any(path: Path) -> list[dict[str, object]]:
    suffix = path.suffix
    if suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    if suffix == ".xlsx":
        rows = list(load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True))
        return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    return pq.read_table(path).to_pylist()


WRITERS = {"jsonl": write_jsonl, "csv": write_csv, "xlsx": write_xlsx, "parquet": write_parquet}


@pytest.mark.parametrize(("src", "dst"), [("jsonl", "xlsx"), ("xlsx", "parquet"), ("parquet", "csv"),
                                          ("csv", "jsonl")])
def test_every_format_round_trips_rows_in_order(home, tmp_path, src, dst):
    rows = [{k: v for k, v in r.items() if k in ("id", "title", "text")} | {"备注": f"第{i}条"}
            for i, r in enumerate(archive(30))]
    source = WRITERS[src](tmp_path / f"in.{src}", rows)
    out = tmp_path / f"out.{dst}"
    done = sqmy(home, "batch", source, out, "--engine", "tfidf")
    assert done.returncode == 0, done.stderr
    got = read_any(out)
    assert [r["id"] for r in got] == [r["id"] for r in rows]
    assert [r["备注"] for r in got] == [r["备注"] for r in rows] and got[0]["text"] == rows[0]["text"]
    if dst in ("csv", "xlsx"):
        assert set(got[0]) >= FLAT and "departments" not in got[0]
        assert got[0]["topic_path"].split(" / ")[0] == got[0]["topic"]
    else:
        assert isinstance(got[0]["topic_path"], list) and got[0]["departments"][0]["role"] == "lead"
        assert got[0]["topic_candidates"][0]["topic_path"] == got[0]["topic_path"]
    assert "changed" not in got[0]  # no labels in the archive, nothing to compare with
    assert not (tmp_path / f"out.{dst}.checkpoint.json").exists()
    assert not (tmp_path / f"out.{dst}.partial.jsonl").exists()


def test_gb18030_csv_with_chinese_headers_is_read(home, tmp_path):
    src = tmp_path / "archive.csv"
    rows = [{"工单编号": "A1", "留言主题": "出租车", "诉求内容": "出租车不打表乱收费，还拒载𠮷字号乘客"},
            {"工单编号": "A2", "留言主题": "讨薪", "诉求内容": "老板拖欠工资三个月"}]
    write_csv(src, rows, encoding="gb18030")
    done = sqmy(home, "batch", src, tmp_path / "out.xlsx")
    assert done.returncode == 0, done.stderr
    got = read_any(tmp_path / "out.xlsx")
    assert [r["工单编号"] for r in got] == ["A1", "A2"] and "𠮷" in got[0]["诉求内容"]
    assert [r["topic"] for r in got] == ["交通运输", "劳动和社会保障"]


def test_column_options_pick_the_columns(home, tmp_path):
    rows = [{"单号": "x1", "概要": "讨薪", "描述": "公司拖欠工资半年", "text": ""},
            {"单号": "x2", "概要": "", "描述": "", "text": "这一行的 text 列不是正文"}]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    done = sqmy(home, "batch", src, out, "--id-col", "单号", "--title-col", "概要", "--text-col", "描述")
    assert done.returncode == 0, done.stderr
    assert [(r["单号"], r["topic"]) for r in read_any(out)] == [("x1", "劳动和社会保障")]
    errors = read_any(Path(f"{out}.errors.jsonl"))
    assert errors == [{"row": 2, "id": "x2", "error": "字段 描述 缺失或为空"}]


def test_jsonl_rows_with_different_keys_keep_every_column_in_csv(home, tmp_path):
    rows = [{"id": "k1", "text": "公司拖欠工资半年"}, {"id": "k2", "text": "出租车拒载", "备注": "来电"},
            {"id": "k3", "text": "学校乱收费", "街道": "城东街道"}]
    out = tmp_path / "out.csv"
    done = sqmy(home, "batch", write_jsonl(tmp_path / "in.jsonl", rows), out)
    assert done.returncode == 0, done.stderr
    got = read_any(out)
    expected = [("k1", "", ""), ("k2", "来电", ""), ("k3", "", "城东街道")]
    assert [(r["id"], r["备注"], r["街道"]) for r in got] == expected
    assert all(r["topic"] for r in got)


def test_changed_flag_and_summary(home, tmp_path):
    rows = [
        {"编号": "1", "留言详情": "工厂偷排污水，河水发黑发臭", "一级分类": "环境保护", "主办单位": "市生态环境分局"},
        {"编号": "2", "留言详情": "公司拖欠工资三个月", "一级分类": "交通运输", "主办单位": ""},
        {"编号": "3", "留言详情": "出租车不打表乱收费", "一级分类": "交通运输/出租车管理", "主办单位": "交通局"},
        {"编号": "4", "留言详情": "学校乱收费，强制订购教辅", "一级分类": "", "主办单位": ""},
    ]
    src = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    done = sqmy(home, "batch", src, out, "--summary", tmp_path / "summary.json")
    assert done.returncode == 0, done.stderr
    got = read_any(out)
    assert [r["一级分类"] for r in got] == [r["一级分类"] for r in rows]  # the archive's labels are kept
    assert [r["changed"] for r in got] == ["False", "True", "False", ""]
    summary = json.loads(done.stdout)
    assert summary == json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert (summary["total"], summary["classified"], summary["errors"]) == (4, 4, 0)
    assert (summary["labelled"], summary["changed"], summary["changed_share"]) == (3, 1, round(1 / 3, 4))
    assert summary["topics"]["交通运输"] == 1 and sum(summary["topics"].values()) == 4
    assert sum(summary["lead_departments"].values()) == 4 and "needs_review_share" in summary
    assert summary["items_per_second"] > 0
    assert "与原有标签不同 1 行" in done.stderr and "主办单位" in done.stderr and "分类" in done.stderr


def test_label_columns_clash_with_predictions_get_a_prefix(home, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": "1", "text": "拖欠工资", "topic": "劳动和社会保障",
                                               "lead": "人社局"}])
    out = tmp_path / "out.jsonl"
    assert sqmy(home, "batch", src, out).returncode == 0
    row = read_any(out)[0]
    assert (row["topic"], row["lead"]) == ("劳动和社会保障", "人社局")
    assert row["pred_topic"] == "劳动和社会保障" and row["changed"] is False  # 人社局 is an alias of the lead


def test_bad_rows_go_to_the_errors_file_and_the_job_goes_on(home, tmp_path):
    long_text = "路灯坏了" * 40
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([
        json.dumps({"id": "a", "text": "老板拖欠工资"}, ensure_ascii=False),
        "{broken",
        json.dumps({"id": "b", "text": "   "}, ensure_ascii=False),
        "[1, 2]",
        json.dumps({"id": "c", "text": long_text}, ensure_ascii=False),
        json.dumps({"id": "d", "text": "河水被工厂污染"}, ensure_ascii=False),
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    done = sqmy(home, "batch", src, out, "--chunk-size", "2", SQMY_MAX_TEXT_CHARS="100")
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in read_any(out)] == ["a", "d"]
    errors = read_any(Path(f"{out}.errors.jsonl"))
    assert [(e["row"], e["id"]) for e in errors] == [(2, None), (3, "b"), (4, None), (5, "c")]
    assert "JSON" in errors[0]["error"] and "为空" in errors[1]["error"] and "超过上限" in errors[3]["error"]
    assert json.loads(done.stdout)["errors"] == 4


def test_progress_file_contract(home, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", archive(50))
    progress = tmp_path / "progress.json"
    done = sqmy(home, "batch", src, tmp_path / "out.jsonl", "--progress-file", progress, "--quiet")
    assert done.returncode == 0 and done.stderr == ""
    state = json.loads(progress.read_text())
    assert set(state) == {"done", "total", "percent", "rate", "eta_seconds", "errors", "stage", "elapsed_seconds"}
    assert (state["done"], state["total"], state["errors"], state["stage"]) == (50, 50, 0, "done")


def _kill_midway(home: Path, args: list[object], progress: Path) -> None:
    """Start ``sqmy batch``, wait until the progress file shows it part-way, then kill -9 it."""
    process = subprocess.Popen([SQMY, *map(str, args)], env=sqmy_env(home), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, "the run finished before it could be killed"
            try:
                state = json.loads(progress.read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                state = {"done": 0, "total": None}
            if state["total"] and 0 < state["done"] < state["total"]:
                break
            time.sleep(0.02)
        else:
            pytest.fail("no progress within 120 s")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize("dst", ["csv", "xlsx"])
def test_resume_after_kill_gives_every_row_exactly_once(home, tmp_path, dst):
    rows = archive(8000, repeat=4)  # about 5 s one chunk at a time: time to see it part-way and kill it
    rows[10]["text"] = ""  # one error row, which must be reported exactly once too
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out, progress = tmp_path / f"out.{dst}", tmp_path / "progress.json"
    args = ["batch", src, out, "--chunk-size", "1", "--progress-file", progress, "--engine", "tfidf"]
    _kill_midway(home, args, progress)
    assert (tmp_path / f"out.{dst}.checkpoint.json").exists()
    done = sqmy(home, *args, "--resume")
    assert done.returncode == 0, done.stderr
    expected = [r["id"] for r in rows if r["text"]]
    assert [r["id"] for r in read_any(out)] == expected
    assert [e["id"] for e in read_any(Path(f"{out}.errors.jsonl"))] == ["r10"]
    summary = json.loads(done.stdout)
    assert (summary["total"], summary["classified"], summary["errors"]) == (8000, 7999, 1)
    assert sum(summary["topics"].values()) == 7999
    assert not (tmp_path / f"out.{dst}.checkpoint.json").exists()


def test_resume_refuses_a_changed_input(home, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", archive(8000, repeat=4))
    out, progress = tmp_path / "out.jsonl", tmp_path / "progress.json"
    _kill_midway(home, ["batch", src, out, "--chunk-size", "1", "--progress-file", progress], progress)
    assert (tmp_path / "out.jsonl.checkpoint.json").exists()
    write_jsonl(src, archive(8001, repeat=4))
    done = sqmy(home, "batch", src, out, "--resume")
    assert done.returncode == 2 and "无法续跑" in done.stderr


def test_two_workers_give_the_same_output_as_one(home, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", archive(400))
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert sqmy(home, "batch", src, one, "--chunk-size", "32").returncode == 0
    done = sqmy(home, "batch", src, two, "--chunk-size", "32", "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert two.read_bytes() == one.read_bytes()
    assert Path(f"{two}.errors.jsonl").read_bytes() == b""


def test_ray_backend_on_a_local_instance(home, tmp_path):
    pytest.importorskip("ray")
    rows = archive(120)
    rows[5]["text"] = ""
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert sqmy(home, "batch", src, local, "--chunk-size", "25").returncode == 0
    done = sqmy(home, "batch", src, on_ray, "--chunk-size", "25", "--backend", "ray", "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert on_ray.read_bytes() == local.read_bytes()
    assert [e["id"] for e in read_any(Path(f"{on_ray}.errors.jsonl"))] == ["r5"]
    assert json.loads(done.stdout)["classified"] == 119
