"""Reranking by meaning (round 5): embeddings computed after indexing, at the indexer's pace, on a real SQLite file
with a tiny encoder built on the fly; the scores fall back to round 4's where an embedding is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sqmy.app.similar import pairs
from sqmy.app.similar.index import SimilarIndex, Thresholds
from sqmy.app.similar.meaning import MeaningFiller, install_encoder, open_encoder
from sqmy.app.similar.store import Entry
from sqmy.app.similar.vectors import Projection
from sqmy.core.text import join_title
from tests.utils.similar import reports, with_projection
from tests.utils.tiny_bert import write_tiny_bert

MATTERS = ("m001", "m002", "m004", "m007")


@pytest.fixture(scope="module")
def encoder_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture
def index_dir(tmp_path: Path, encoder_source: Path) -> Path:
    directory = with_projection(tmp_path) / "similar"
    install_encoder(encoder_source, directory)
    return directory


def open_index(directory: Path, *, meaning: bool = True) -> SimilarIndex:
    projection = Projection.load(directory / "projection")
    assert projection is not None
    return SimilarIndex(directory, projection, Thresholds(), open_encoder(directory) if meaning else None)


def entries() -> list[Entry]:
    return [Entry(id=f"{m}-{n}", text=r["text"], title=r["title"]) for m in MATTERS
            for n, r in enumerate(reports(m))]


def test_items_are_embedded_after_indexing_newest_first_and_leave_with_their_item(index_dir):
    """Adding stores no embedding (indexing does not wait for the encoder); the filler embeds every item, the
    newest first, unit vectors; a removed item's embedding goes with it; a new item is embedded at the next step."""
    index = open_index(index_dir)
    added = entries()
    index.add(added)
    assert index.store.meaning_count() == 0
    filler = MeaningFiller(index.store, index.encoder)  # type: ignore[arg-type]
    assert filler.step(limit=3) == 3
    newest = sorted(index.store.keys_of([e.id for e in added]).values())[-3:]
    assert set(index.store.meaning_of(newest)) == set(newest)
    while filler.step(limit=5):
        pass
    keys = list(index.store.keys_of([e.id for e in added]).values())
    stored = index.store.meaning_of(keys)
    assert set(stored) == set(keys)
    assert all(abs(float(np.linalg.norm(v)) - 1.0) < 0.01 for v in stored.values())
    index.remove([added[0].id])
    assert index.store.meaning_count() == len(added) - 1
    index.add([Entry(id="late", text="溪口镇老街的路灯又坏了，晚上一片漆黑。", title="路灯")])
    assert filler.step() == 1 and filler.step() == 0
    index.close()


def test_without_embeddings_the_answers_are_those_of_round_4(index_dir):
    """An encoder installed but nothing embedded yet: the same answers and scores as without an encoder."""
    index = open_index(index_dir)
    index.add(entries())
    query = reports("m002")[1]
    with_encoder = index.similar(query["text"], query["title"], exclude="m002-1", everything=True)
    index.close()
    plain = open_index(index_dir, meaning=False)
    without = plain.similar(query["text"], query["title"], exclude="m002-1", everything=True)
    plain.close()
    assert [(a["id"], a["score"]) for a in with_encoder] == [(a["id"], a["score"]) for a in without]


def test_embedded_candidates_are_scored_by_meaning_and_a_query_by_id_reuses_its_own(index_dir):
    """Once embedded, the candidates' scores use their rank by meaning (they differ from round 4's); a query
    by the id of a stored item gives the same scores as the same text encoded afresh."""
    index = open_index(index_dir)
    index.add(entries())
    filler = MeaningFiller(index.store, index.encoder)  # type: ignore[arg-type]
    while filler.step():
        pass
    query = reports("m004")[0]
    by_id = index.similar(query["text"], query["title"], exclude="m004-0", everything=True)
    _keys, _rows, found = index.candidates(query["text"], query["title"], exclude="m004-0")
    assert found.meaning is not None and not np.isnan(found.meaning).any()
    own = index.store.meaning_of([index.store.key_of("m004-0")])  # type: ignore[list-item]
    fresh = index.encoder.embed([join_title(query["title"], query["text"])])[0]  # type: ignore[union-attr]
    assert float(next(iter(own.values())) @ fresh) > 0.99
    index.close()
    plain = open_index(index_dir, meaning=False)
    without = plain.similar(query["text"], query["title"], exclude="m004-0", everything=True)
    plain.close()
    assert {a["id"] for a in by_id} == {a["id"] for a in without}
    assert [a["score"] for a in by_id] != [a["score"] for a in without]
    assert all(0.0 <= a["score"] <= 1.0 for a in by_id)


def test_a_candidate_ranked_first_by_meaning_scores_higher_than_the_same_candidate_ranked_last():
    """The meaning columns: everything else equal, rank 1 by meaning raises the probability; a candidate
    without an embedding keeps round 4's probability."""
    n = 12
    base = dict(dense=np.linspace(0.7, 0.3, n), sparse=np.linspace(0.6, 0.2, n), jaccard=np.zeros(n),
                places=[(0.5, 0.5)] * n, query_len=60, candidate_len=np.full(n, 80.0))
    meaning = np.linspace(0.95, 0.6, n)
    first = pairs.probability(pairs.features(pairs.Candidates(**base, meaning=meaning), 0.25))
    last = pairs.probability(pairs.features(pairs.Candidates(**base, meaning=meaning[::-1].copy()), 0.25))
    assert first[0] > last[0]
    partial = meaning.copy()
    partial[3] = np.nan
    mixed = pairs.probability(pairs.features(pairs.Candidates(**base, meaning=partial), 0.25))
    round4 = pairs.probability(pairs.features(pairs.Candidates(**base), 0.25))
    assert mixed[3] == pytest.approx(round4[3])
