"""`sqmy prune` and the similarity index, on a real SQMY_HOME (SQLite file, index directory): classifications
past retention leave the index, in the file and in the graph of a process that holds it open."""

from __future__ import annotations

import json
import subprocess

from sqlalchemy import insert

from sqmy.app.similar.index import SimilarIndex, Thresholds
from sqmy.app.similar.store import Entry
from sqmy.app.similar.vectors import Projection
from sqmy.app.storage import Classification, make_engine
from tests.cli.test_prune import classification
from tests.conftest import SQMY, sqmy_env
from tests.utils.similar import reports, with_projection


def open_index(home) -> SimilarIndex:
    projection = Projection.load(home / "similar" / "projection")
    assert projection is not None
    return SimilarIndex(home / "similar", projection, Thresholds())


def found_ids(index: SimilarIndex, report: dict) -> set[str]:
    index.sync()  # what a query does at most once a second
    return {f["id"] for f in index.similar(report["text"], report["title"], k=10)}


def test_pruned_classifications_leave_the_similarity_index(tmp_path):
    home = with_projection(tmp_path / "home")
    old, new = reports("m001"), reports("m007")  # 锦江花园 lift repairs (old), unpaid wages at 白沙镇 (new)
    db = make_engine(f"sqlite:///{home / 'sqmy.db'}")
    with db.begin() as conn:
        conn.execute(insert(Classification), [classification(f"c-old-{n}", 90) for n in range(len(old))]
                     + [classification(f"c-new-{n}", 1) for n in range(len(new))])
    db.dispose()
    serving = open_index(home)  # the service's index, open while the prune runs
    serving.add([Entry(id=f"c-old-{n}", text=r["text"], title=r["title"]) for n, r in enumerate(old)]
                + [Entry(id=f"c-new-{n}", text=r["text"], title=r["title"]) for n, r in enumerate(new)])
    serving.save()
    assert {f"c-old-{n}" for n in range(len(old))} <= found_ids(serving, old[0])

    done = subprocess.run([SQMY, "prune", "--days", "30"], env=sqmy_env(home), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert report["classifications"] == len(old) and report["similar_items"] == len(old)

    assert not any(i.startswith("c-old") for i in found_ids(serving, old[0]))
    assert len(serving) == len(new)  # out of the graph, not only filtered
    assert {f"c-new-{n}" for n in range(len(new))} <= found_ids(serving, new[0])
    serving.close()
    reopened = open_index(home)  # from the snapshot taken before the prune, then the store
    assert len(reopened) == len(new) and reopened.store.count() == len(new)
    assert not any(i.startswith("c-old") for i in found_ids(reopened, old[0]))
    reopened.close()
