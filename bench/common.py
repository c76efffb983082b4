"""Helpers shared by the benchmark scripts (not part of the service)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
SHARED_DATA = REPO.parent / "shared" / "data"
SQMY = str(Path(sys.executable).parent / "sqmy")


def bench_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a benchmark's ``sqmy`` process: no background BERT build unless asked (it would share the
    cores with what is being measured)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQMY_")}
    return env | {"SQMY_HOME": str(home), "SQMY_LOG_LEVEL": "warning", "SQMY_BERT": "off"} | extra


def ensure_model(home: Path) -> None:
    """Train the default TF-IDF model from corpora/ into ``home`` if it has none."""
    subprocess.run([SQMY, "train", "--engine", "tfidf", "--if-missing"], env=bench_env(home), check=True,
                   stdout=subprocess.DEVNULL)


def corpus_texts() -> list[dict[str, str]]:
    rows = []
    for path in sorted((REPO / "corpora").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    return rows


def generated_items(n: int, chars: int = 300, seed: int = 0) -> list[dict[str, str]]:
    """``n`` items of about ``chars`` characters, stitched from corpus sentences (for speed tests only)."""
    rng = random.Random(seed)
    rows = corpus_texts()
    out = []
    for i in range(n):
        base = rng.choice(rows)
        text = base["text"]
        while len(text) < chars:
            text += rng.choice(rows)["text"]
        out.append({"id": f"gen-{i}", "title": base["title"], "text": text[:chars]})
    return out


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def print_report(report: dict, out: Path | None = None) -> None:
    """Print ``report`` as indented JSON, and write the same text to ``out`` when given."""
    text = json.dumps(report, ensure_ascii=False, indent=1)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    print(text)
