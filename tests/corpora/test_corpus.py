"""The bootstrap corpus (corpora/*.jsonl): schema, label validity, coverage, genres, lengths, duplicates."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sqmy.training.data import parse_item

CORPUS = Path(__file__).resolve().parents[2] / "corpora"
_spec = importlib.util.spec_from_file_location("corpus_dedup", CORPUS / "spec" / "dedup.py")
assert _spec and _spec.loader
_dedup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_dedup)
near_duplicates = _dedup.near_duplicates
GENRES = {"12345工单", "网民留言", "社情民意信息", "政协提案", "短诉求"}
FIELDS = ["id", "genre", "title", "text", "topic", "topic_path", "lead", "assist"]


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return [json.loads(line) for path in sorted(CORPUS.glob("*.jsonl"))
            for line in path.open(encoding="utf-8") if line.strip()]


def test_schema_and_labels_are_valid(rows, labels):
    bad = []
    for row in rows:
        try:
            assert list(row) == FIELDS, f"fields {list(row)}"
            assert row["genre"] in GENRES, f"genre {row['genre']}"
            assert row["topic"] == row["topic_path"][0] and len(row["topic_path"]) in (2, 3)
            assert len(row["assist"]) <= 3 and row["lead"] not in row["assist"]
            item = parse_item(row, labels)
            assert item.lead == row["lead"] and list(item.assists) == row["assist"], "alias instead of full name"
        except (AssertionError, ValueError) as exc:
            bad.append(f"{row.get('id')}: {exc}")
    assert not bad, bad[:20]


def test_size_and_topic_coverage(rows, labels):
    assert len(rows) >= 12000
    level1 = Counter(r["topic"] for r in rows)
    assert set(level1) == set(labels.taxonomy.level1)
    small = {t: n for t, n in level1.items() if n < 0.025 * len(rows)}
    assert not small, f"level-1 topics under 2.5%: {small}"
    assert len({tuple(r["topic_path"][:2]) for r in rows}) >= 110


def test_every_level3_leaf_has_items(rows, labels):
    """Round 3: every leaf of the taxonomy that is not a catch-all 其他 has at least 8 items."""
    leaves = Counter("/".join(r["topic_path"]) for r in rows if len(r["topic_path"]) == 3)
    thin = {leaf: leaves[leaf] for leaf in labels.taxonomy.leaves if not leaf.endswith("/其他") and leaves[leaf] < 8}
    assert not thin, f"leaves with fewer than 8 items: {thin}"


def test_towns_and_streets_lead_local_matters(rows, labels):
    towns = Counter(r["lead"] for r in rows if r["lead"] in labels.directory.locality_names)
    assert set(towns) == set(labels.directory.locality_names)
    assert sum(towns.values()) >= 0.05 * len(rows)


def test_every_unit_leads_at_least_15_items(rows, labels):
    leads = Counter(r["lead"] for r in rows)
    short = {u: leads[u] for u in labels.directory.unit_names if leads[u] < 15}
    assert not short, f"units leading fewer than 15 items: {short}"


def test_genres_and_lengths(rows):
    genres = Counter(r["genre"] for r in rows)
    assert all(genres[g] >= 0.10 * len(rows) for g in GENRES), genres
    assert all(len(r["text"]) < 60 for r in rows if r["genre"] == "短诉求")
    lengths = np.array([len(r["text"]) for r in rows])
    assert lengths.min() >= 15 and lengths.max() <= 2000
    assert 100 <= np.median(lengths) <= 320
    hotline = np.array([len(r["text"]) for r in rows if r["genre"] == "12345工单"])
    assert 50 <= np.median(hotline) <= 150  # operator summaries are short, like real work orders


def test_ids_unique_and_no_exact_or_near_duplicates(rows):
    assert len({r["id"] for r in rows}) == len(rows)
    texts = ["".join(r["text"].split()) for r in rows]
    assert len(set(texts)) == len(texts), "exact duplicate texts"
    pairs = near_duplicates(texts, threshold=0.8)
    assert not pairs, [(rows[i]["id"], rows[j]["id"], s) for i, j, s in pairs[:10]]


def test_near_duplicate_detector_finds_a_planted_copy():
    base = "我们小区门口的路灯已经坏了一个多月，晚上出门很不安全，多次向物业反映都没有人来修，希望有关部门尽快处理。"
    texts = [base, base.replace("一个多月", "两个多月"), "公司拖欠工资三个月，老板一直找借口不发，工人们生活困难。"]
    assert [(i, j) for i, j, _ in near_duplicates(texts, threshold=0.8)] == [(0, 1)]
