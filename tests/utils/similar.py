"""The similarity projection fitted once per test session (on the bundled corpus, as the service fits it) and
copied into each test's SQMY_HOME, so that only one test waits for the fit; and reports from bench/similar/."""

from __future__ import annotations

import json
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx

from sqmy.app.similar.service import corpus_texts
from sqmy.app.similar.vectors import Projection

REPO = Path(__file__).resolve().parents[2]
SET = REPO / "bench" / "similar" / "matters.jsonl"


@lru_cache
def _fitted() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="sqmy-test-projection-")) / "projection"
    Projection.fit(corpus_texts(REPO / "corpora")).save(directory)
    return directory


def with_projection(home: Path) -> Path:
    """``home`` with the session's projection under ``similar/projection``."""
    shutil.copytree(_fitted(), home / "similar" / "projection", dirs_exist_ok=True)
    return home


def reports(matter: str) -> list[dict[str, str]]:
    """The reports of one matter of the evaluation set (``m001`` …)."""
    for line in SET.open(encoding="utf-8"):
        row = json.loads(line)
        if row["matter"] == matter:
            return row["reports"]
    raise KeyError(matter)


def similar_server(trained_home: Path, home: Path) -> Any:
    """A real server with the similarity index on, over a copy of ``trained_home`` (TF-IDF) made in ``home``."""
    from tests.conftest import Server

    shutil.copytree(trained_home, home, dirs_exist_ok=True)
    return Server(with_projection(home), SQMY_SIMILAR="on")


def classify_report(server: Any, report: dict[str, str], similar: int = 0) -> dict[str, Any]:
    """``POST /v1/classify`` of a report's title and text (with ``similar`` past items asked for); the answer."""
    response = httpx.post(f"{server.url}/v1/classify", json={"title": report["title"], "text": report["text"],
                                                            "similar": similar}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()
