"""Reranking by meaning (round 5): embeddings computed after indexing, at the indexer's pace, on a real SQLite file
with a tiny encoder built on the fly; the scores fall back to round 4's where an embedding is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sqmy.app.similar import pairs
from sqmy.app.similar.index import SimilarIndex, Thresholds, background
from sqmy.app.similar.meaning import MeaningFiller, MeaningGraph, install_encoder, open_encoder
from sqmy.app.similar.store import Entry
from sqmy.app.similar.vectors import Projection, item_text, matter_text
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
    index.sync()  # what a server does within a second: takes in the indexer's embeddings
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


def test_an_encoder_adapted_to_matters_scores_with_the_model_fitted_for_it(tmp_path, encoder_source):
    """``sqmy base-encoder --matter`` records ``kind: matter``; installed, the index scores the candidates that
    have an embedding with the model fitted for it (``pair_models/matter.json``; the student's model would give other
    probabilities)."""
    import json
    import shutil

    matter_source = tmp_path / "student-matter"
    shutil.copytree(encoder_source, matter_source)
    (matter_source / "student.json").write_text(json.dumps({"kind": "matter", "prefix": ""}))
    directory = with_projection(tmp_path / "site") / "similar"
    install_encoder(matter_source, directory)
    index = open_index(directory)
    assert index.encoder is not None and index.encoder.kind == "matter"
    index.add(entries())
    embed_all(index)
    query = reports("m004")[0]
    answers = index.similar(query["text"], query["title"], exclude="m004-0", everything=True)
    keys, rows, found = index.candidates(query["text"], query["title"], exclude="m004-0")
    x = pairs.features(found, background(list((found.dense + found.sparse) / 2)))
    by_id = {a["id"]: a["score"] for a in answers if a["kind"] != "duplicate"}
    for kind, expected in (("matter", True), ("", False)):
        scores = dict(zip((rows[k]["id"] for k in keys), pairs.probability(x, kind=kind), strict=True))
        assert all(by_id[i] == pytest.approx(scores[i], abs=1e-4) for i in by_id) is expected
    index.close()


def embed_all(index: SimilarIndex, graph: MeaningGraph | None = None) -> MeaningFiller:
    filler = MeaningFiller(index.store, index.encoder, graph)  # type: ignore[arg-type]
    while filler.step():
        pass
    index.sync()
    return filler


def test_an_item_near_by_meaning_alone_becomes_a_candidate(index_dir):
    """The graph by meaning proposes candidates the character index does not: an item of another matter whose
    stored embedding is the query's own is among the query's candidates (with its cosine by meaning) only when
    the graph by meaning is searched."""
    index = open_index(index_dir)
    index.add(entries())
    embed_all(index)
    query = reports("m001")[0]
    index.meaning_candidates = 0
    ids, rows, _found = index.candidates(query["text"], query["title"], exclude="m001-0", candidates=2)
    by_characters = {rows[k]["id"] for k in ids}
    target = next(e.id for e in entries() if not e.id.startswith("m001") and e.id not in by_characters)
    keys = index.store.keys_of(["m001-0", target])
    own = index.store.meaning_of([keys["m001-0"]])[keys["m001-0"]]
    index.store.put_meaning([keys[target]], own[None, :])
    index.sync()
    index.meaning_candidates = 3
    ids, rows, found = index.candidates(query["text"], query["title"], exclude="m001-0", candidates=2)
    by_id = {rows[k]["id"]: i for i, k in enumerate(ids)}
    assert target in by_id and by_characters <= set(by_id) and found.meaning is not None
    assert found.meaning[by_id[target]] == pytest.approx(1.0, abs=0.01)
    assert len(ids) <= len(by_characters) + 3
    # each candidate's figures are its own, whether it was found by characters or by meaning alone
    query_matter = matter_text(item_text(query["title"], query["text"]))
    for i, key in enumerate(ids):
        matter = rows[key]["norm"]
        assert found.candidate_len[i] == len(matter)
        assert found.sparse[i] == pytest.approx(index.projection.cosines(query_matter, [matter])[0], abs=1e-9)
    index.close()


def test_the_graph_by_meaning_is_saved_by_the_indexer_and_follows_removals_and_a_new_encoder(index_dir):
    """The indexer's filler writes a snapshot of the graph by meaning when it stops; a process opened later loads
    it, drops the items removed meanwhile and forgets every embedding when they are cleared (another encoder)."""
    index = open_index(index_dir)
    index.add(entries())
    filler = embed_all(index, MeaningGraph(index_dir))
    filler.close()
    assert [p.name for p in index_dir.glob("meaning-*.usearch")] == [f"meaning-{len(entries())}.usearch"]
    later = MeaningGraph(index_dir)
    later.load()
    assert len(later) == len(entries()) and later.seq == len(entries())
    index.remove(["m002-0"])
    later.sync(index.store)
    assert len(later) == len(entries()) - 1
    vector = index.store.meaning_of([index.store.key_of("m004-1")])  # type: ignore[list-item]
    assert next(iter(later.search(next(iter(vector.values())), 1))) == index.store.key_of("m004-1")
    index.store.clear_meaning()
    later.sync(index.store)
    assert len(later) == 0
    index.close()


def test_a_query_text_is_encoded_once_for_repeated_lookups(index_dir):
    """The classify page asks again for the same text: the second lookup reuses the first's embedding."""
    encoder = open_encoder(index_dir)
    assert encoder is not None
    text = "溪口镇老街的路灯又坏了，晚上一片漆黑。"
    first = encoder.embed_query(text)
    calls = []
    runner = encoder.runner
    encoder.runner = lambda ids, mask: calls.append(1) or runner(ids, mask)  # type: ignore[assignment]
    again = encoder.embed_query(text)
    assert calls == [] and np.array_equal(first, again)
    assert np.allclose(first, encoder.embed([text])[0], atol=1e-5) and calls == [1]


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


def test_a_round_5_file_has_its_embeddings_taken_into_the_graph_when_opened(index_dir):
    """A file written before the embeddings were logged (round 5: a ``meaning`` table, no ``meaning_log``): opening
    it logs the stored embeddings once, so a server's graph by meaning holds every one of them."""
    import sqlite3

    index = open_index(index_dir)
    index.add(entries())
    embed_all(index)
    index.close()
    for snapshot in index_dir.glob("meaning-*.usearch"):
        snapshot.unlink()
    with sqlite3.connect(index_dir / "items.db") as conn:
        conn.execute("DROP TABLE meaning_log")
    reopened = open_index(index_dir)
    assert len(reopened._meaning_graph or []) == reopened.store.meaning_count() == len(entries())
    query = reports("m002")[0]
    _keys, _rows, found = reopened.candidates(query["text"], query["title"])
    assert found.meaning is not None and not np.isnan(found.meaning).any()
    reopened.close()
