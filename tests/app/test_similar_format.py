"""The batch-vectorised signatures and vectors, and an index file of the previous format re-derived on open."""

from __future__ import annotations

import random

import numpy as np

from sqmy.app.similar.index import SimilarIndex, Thresholds
from sqmy.app.similar.store import FORMAT, Entry
from sqmy.app.similar.vectors import Projection, item_text, jaccard, signatures
from tests.utils.similar import reports, with_projection


def shingles(text: str) -> set[str]:
    text = text.ljust(3, "\0")
    return {text[i:i + 3] for i in range(len(text) - 2)}


def test_signatures_of_a_batch_are_those_of_each_text_and_estimate_the_jaccard_of_shingles():
    texts = [item_text(r["title"], r["text"]) for m in ("m001", "m002", "m007", "m013") for r in reports(m)]
    texts += ["", "路", "路灯", "路灯坏"]
    batch = signatures(texts)
    assert all((signatures([t])[0] == row).all() for t, row in zip(texts, batch, strict=True))
    rng, errors = random.Random(3), []
    for _ in range(300):
        a = rng.choice(texts[:-4])
        b = a[:rng.randint(len(a) // 3, len(a))] + rng.choice(texts[:-4])[:rng.randint(0, 60)]
        true = len(shingles(a) & shingles(b)) / len(shingles(a) | shingles(b))
        errors.append(float(jaccard(signatures([a])[0], signatures([b]))[0]) - true)
    assert abs(np.mean(errors)) < 0.02 and np.mean(np.abs(errors)) < 0.06  # 64 permutations: sd ≈ 0.06


def test_an_index_file_of_the_previous_format_is_re_derived_when_opened(tmp_path):
    directory = with_projection(tmp_path) / "similar"
    projection = Projection.load(directory / "projection")
    assert projection is not None
    index = SimilarIndex(directory, projection, Thresholds())
    index.add([Entry(id=f"m001-{n}", text=r["text"], title=r["title"]) for n, r in enumerate(reports("m001"))]
              + [Entry(id=f"m007-{n}", text=r["text"], title=r["title"]) for n, r in enumerate(reports("m007"))])
    index.close()
    old = SimilarIndex(directory, projection, Thresholds())  # damage what an old release wrote: signatures, places
    old.store._write(lambda c: c.execute("UPDATE items SET sig = zeroblob(256), places = ''"))
    old.store.format = 1
    old.store.close()
    reopened = SimilarIndex(directory, projection, Thresholds())
    assert reopened.store.format == FORMAT
    report = reports("m001")[0]
    found = reopened.similar(report["text"], report["title"])
    assert found[0]["id"] == "m001-0" and found[0]["kind"] == "duplicate"  # the signatures are whole again
    assert "锦江花园" in found[0]["places"]
    reopened.close()


def test_the_bert_runtime_loads_after_the_similarity_graph_in_one_process() -> None:
    """A server with its similarity index open loads BERT later: onnxruntime imported after usearch crashed the
    process (a segfault, no Python error), so usearch is only reached through ``usearch_index``."""
    import subprocess
    import sys

    code = ("import numpy as np\n"
            "from sqmy.app.similar.index import new_graph\n"
            "graph = new_graph(8)\n"
            "graph.add(np.arange(4), np.eye(4, 8, dtype=np.float32))\n"
            "import onnxruntime\n"
            "print(len(graph), onnxruntime.get_device())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[0] == "4"


def _planted_signatures(n: int, seed: int) -> np.ndarray:
    """Random signatures where every fourth copies a few bands of an earlier one (near-duplicates of various
    degrees), as ``signatures`` produces them (uint32)."""
    rng = np.random.RandomState(seed)
    sigs = rng.randint(0, 2**32, size=(n, 64), dtype=np.uint64).astype(np.uint32)
    for i in range(4, n, 4):
        source, shared = rng.randint(0, i), rng.randint(0, 64)
        cols = rng.choice(64, size=shared, replace=False)
        sigs[i, cols] = sigs[source, cols]
    return sigs


def test_the_numpy_lsh_finds_exactly_the_candidates_of_datasketch_and_forgets_removed_items():
    from datasketch import LeanMinHash, MinHashLSH

    from sqmy.app.similar.lsh import BandLSH

    sigs = _planted_signatures(3000, 5)
    ours, theirs = BandLSH(0.6, 64), MinHashLSH(threshold=0.6, num_perm=64)
    for start in range(0, len(sigs), 700):  # several insertions: several sorted runs
        ours.insert(np.arange(start, min(start + 700, len(sigs))), sigs[start:start + 700])
    for key, sig in enumerate(sigs):
        theirs.insert(key, LeanMinHash(seed=1, hashvalues=sig.astype(np.uint64), scheme="legacy"),
                      check_duplication=False)
    queries = list(range(0, len(sigs), 4)) + list(range(1, 200))
    assert all(sorted(ours.query(sigs[q])) == sorted(theirs.query(LeanMinHash(
        seed=1, hashvalues=sigs[q].astype(np.uint64), scheme="legacy"))) for q in queries)
    assert sum(len(ours.query(sigs[q])) > 1 for q in queries) > 50  # the planted pairs do collide
    gone = [q for q in range(4, 400, 4) if len(ours.query(sigs[q])) > 1]
    for key in gone:
        ours.remove(key)
    assert all(key not in ours.query(sigs[key]) and key not in ours for key in gone)
    ours.insert(np.arange(3000, 9000), _planted_signatures(6000, 6))  # merges every run: removed rows are dropped
    assert all(key not in ours.query(sigs[key]) for key in gone)
    assert len(ours) == 9000 - len(gone)


def test_an_index_file_of_format_2_opens_without_re_deriving_and_answers_as_before(tmp_path):
    """Format 2 had no ``norm`` column and pickled its LSH beside each graph snapshot: such a directory opens as it
    is (the column is added, its rows computed when read; the LSH rebuilt from the stored signatures), the answers
    are the same, and the next snapshot leaves no pickle behind."""
    directory = with_projection(tmp_path) / "similar"
    projection = Projection.load(directory / "projection")
    assert projection is not None
    index = SimilarIndex(directory, projection, Thresholds())
    index.add([Entry(id=f"{m}-{n}", text=r["text"], title=r["title"])
               for m in ("m001", "m002", "m007", "m013") for n, r in enumerate(reports(m))])
    query = reports("m001")[0]
    before = index.similar("再次反映：" + query["text"], query["title"])
    index.close()
    snapshot = next(directory.glob("ann-*.usearch"))
    old = SimilarIndex(directory, projection, Thresholds())
    old.store._write(lambda c: c.execute("ALTER TABLE items DROP COLUMN norm"))
    old.store.format = 2
    old.store.close()
    (directory / f"lsh-{snapshot.stem.split('-')[1]}.pkl").write_bytes(b"format 2 pickle")
    vectors_before = {k: r["vec"].tobytes() for k, r in _stored(directory).items()}
    reopened = SimilarIndex(directory, projection, Thresholds())
    assert reopened.store.format == FORMAT
    assert {k: r["vec"].tobytes() for k, r in _stored(directory).items()} == vectors_before  # not re-derived
    assert reopened.similar("再次反映：" + query["text"], query["title"]) == before
    reopened.add([Entry(id="m029-0", text=reports("m029")[0]["text"], title=reports("m029")[0]["title"])])
    reopened.close()
    assert not list(directory.glob("lsh-*.pkl")) and list(directory.glob("ann-*.usearch"))


def _stored(directory):
    from sqmy.app.similar.store import ItemStore

    store = ItemStore(directory / "items.db")
    try:
        return store.rows(list(range(1, store.max_key() + 1)), vectors=True)
    finally:
        store.close()
