"""Reranking by meaning as a site turns it on: ``sqmy index --encoder DIR`` installs the encoder, the server's
indexer process embeds the stored items after indexing them, and ``/v1/similar`` answers with them."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import httpx

from tests.cli.test_similar_cli import archive
from tests.conftest import SQMY, Server, sqmy_env
from tests.service.api.test_similar_indexer import eventually
from tests.utils.similar import reports, with_projection
from tests.utils.tiny_bert import write_tiny_bert


def counts(home: Path) -> tuple[int, int]:
    """(items, items with an embedding) in the index's store, read from the file."""
    with contextlib.closing(sqlite3.connect(home / "similar" / "items.db", timeout=30)) as conn:
        return (conn.execute("SELECT COUNT(*) FROM items").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM meaning").fetchone()[0])


def sqmy(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SQMY, *args], env=sqmy_env(home, SQMY_SIMILAR="on"), capture_output=True, text=True,
                          timeout=600)


def test_an_installed_encoder_embeds_the_index_in_the_indexer_and_answers_use_it(tmp_path, trained_home):
    home = tmp_path / "home"
    shutil.copytree(trained_home, home)
    with_projection(home)
    bad = sqmy(home, "index", "--encoder", str(tmp_path / "nothing"))
    assert bad.returncode != 0 and "编码器目录无效" in bad.stderr
    installed = sqmy(home, "index", "--encoder", str(write_tiny_bert(tmp_path / "encoder")))
    assert installed.returncode == 0, installed.stderr
    assert (Path(json.loads(installed.stdout)["encoder"]) / "model.int8.onnx").is_file()
    indexed = sqmy(home, "index", str(archive(tmp_path / "in.jsonl")), "--prefix", "in")
    assert indexed.returncode == 0, indexed.stderr
    assert counts(home)[0] > 0 and counts(home)[1] == 0  # indexing itself embeds nothing
    server = Server(home, SQMY_SIMILAR="on")
    try:
        eventually(lambda: counts(home)[1] == counts(home)[0], "every indexed item embedded by the indexer")
        report = reports("m002")[1]
        found = httpx.post(f"{server.url}/v1/similar", json={"title": report["title"], "text": report["text"]},
                           timeout=60)
        assert found.status_code == 200, found.text
        answers = found.json()["data"]
        assert (answers[0]["id"], answers[0]["kind"]) == ("in:m002-1", "duplicate")
        assert all(0.0 <= a["score"] <= 1.0 for a in answers)
    finally:
        server.stop()
