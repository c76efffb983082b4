"""sqmy cluster / index / hotspots / group and sqmy batch --index, as a user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import SQMY, sqmy_env
from tests.utils.similar import reports, with_projection

MATTERS = ("m001", "m002", "m004", "m007", "m029")


def archive(path: Path) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for matter in MATTERS:
            for n, r in enumerate(reports(matter)):
                row = {"编号": f"{matter}-{n}", "标题": r["title"], "正文": r["text"], "日期": f"2026-05-{10 + n:02d}"}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def run(home: Path, *args: str) -> dict:
    done = subprocess.run([SQMY, *args], env=sqmy_env(home, SQMY_SIMILAR="on"), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_cluster_writes_suggested_merge_groups_with_representative_and_reason(tmp_path, home):
    with_projection(home)
    out = tmp_path / "groups.jsonl"
    summary = run(home, "cluster", str(archive(tmp_path / "in.jsonl")), str(out))
    groups = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert summary["groups"] == len(groups) > 0
    for group in groups:
        assert group["representative"]["id"] in group["members"] and group["reason"]
        assert len({m.rsplit("-", 1)[0] for m in group["members"]}) == 1  # one matter per group
    assert [g["size"] for g in groups] == sorted((g["size"] for g in groups), reverse=True)


def test_indexed_archive_gives_hotspots_and_groups_are_kept(tmp_path, home):
    with_projection(home)
    indexed = run(home, "index", str(archive(tmp_path / "in.jsonl")), "--prefix", "a")
    assert indexed["indexed"] == sum(len(reports(m)) for m in MATTERS)
    hot = run(home, "hotspots", "--from", "2026-05-01", "--to", "2026-05-31")
    assert hot["data"] and hot["data"][0]["first_date"] >= "2026-05-10"
    group = run(home, "group", "create", "a:m001-0", "a:m001-1", "--lead-unit", "市住房和城乡建设局")
    shown = run(home, "group", "show", group["id"])
    assert shown["lead_unit"] == "市住房和城乡建设局" and shown["size"] == 2
    failed = subprocess.run([SQMY, "group", "create", "a:m001-1", "a:m002-0"], env=sqmy_env(home),
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0 and "已属于其他并案组" in failed.stderr


def test_batch_with_index_lists_the_largest_groups(tmp_path, home):
    with_projection(home)
    summary = run(home, "batch", str(archive(tmp_path / "in.jsonl")), str(tmp_path / "out.jsonl"), "--index",
                  "--quiet")
    assert summary["similar_index"]["indexed"] == summary["classified"]
    largest = summary["largest_groups"]
    assert largest and largest[0]["size"] >= 2 and largest[0]["reason"]
