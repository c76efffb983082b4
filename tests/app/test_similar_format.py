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
