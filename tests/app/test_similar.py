"""The similarity index on a real SQLite file: duplicates, same matter, places, persistence, two processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sqmy.app.similar.cluster import Item, cluster
from sqmy.app.similar.index import SimilarIndex, Thresholds
from sqmy.app.similar.places import item_places, places_of
from sqmy.app.similar.store import Entry
from sqmy.app.similar.vectors import Projection, item_text, matter_text
from tests.utils.similar import REPO, reports, with_projection


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return with_projection(tmp_path) / "similar"


def open_index(directory: Path) -> SimilarIndex:
    projection = Projection.load(directory / "projection")
    assert projection is not None
    return SimilarIndex(directory, projection, Thresholds())


def entries(matter: str) -> list[Entry]:
    return [Entry(id=f"{matter}-{n}", text=r["text"], title=r["title"], topic="城乡建设", date="2026-05-0" + str(n + 1))
            for n, r in enumerate(reports(matter))]


def test_places_come_from_the_facts_extractor_with_their_level():
    assert places_of("城东街道锦江花园小区物业") == {"城东街道|town", "锦江花园|estate"}
    assert {"白沙镇|town", "下洋村|village"} <= places_of("白沙镇下洋村的养猪场把粪水排进小河")
    assert places_of("浙江省杭州市的马路坏了") == set()  # provinces and cities do not tell matters apart


def test_places_already_extracted_by_the_classifier_are_reused():
    facts = [{"kind": "place", "text": "锦江花园小区", "start": 0, "end": 6, "level": "estate"},
             {"kind": "phone", "text": "138****5678", "start": 8, "end": 19}]
    assert item_places("溪口镇路灯", "锦江花园小区……", facts) == {"锦江花园|estate", "溪口镇|town"}


def test_a_resubmitted_text_is_a_duplicate_and_another_matter_at_the_same_estate_is_not(index_dir):
    index = open_index(index_dir)
    index.add(entries("m001") + entries("m002") + entries("m007"))
    original = reports("m001")[0]
    found = index.similar("再次反映：" + original["text"] + "至今没有解决。", original["title"])
    assert found[0]["id"] == "m001-0" and found[0]["kind"] == "duplicate"
    duplicates = {f["id"] for f in found if f["kind"] == "duplicate"}
    assert not any(i.startswith("m002") for i in duplicates)  # 锦江花园 parking fees: same estate, other matter
    index.close()


def test_a_re_report_in_other_words_is_found_as_the_same_matter(index_dir):
    index = open_index(index_dir)
    index.add(entries("m001") + entries("m007") + entries("m013") + entries("m029"))
    report = reports("m007")[1]  # the 12345 order of the unpaid wages at the 白沙镇 site
    found = index.similar(report["text"], report["title"], exclude="m007-1")
    assert found and found[0]["id"].startswith("m007-")
    assert {f["kind"] for f in found} <= {"duplicate", "same_matter"}
    index.close()


def test_the_index_survives_a_restart_and_catches_up_with_items_added_meanwhile(index_dir):
    index = open_index(index_dir)
    index.add(entries("m001"))
    index.close()  # writes the snapshot
    assert list(index_dir.glob("ann-*.usearch"))
    other = open_index(index_dir)  # another process adds while the first is down
    other.add(entries("m004"))
    other.store.close()  # leaves without a snapshot: the next start must catch up from the store
    again = open_index(index_dir)
    assert len(again) == len(reports("m001")) + len(reports("m004"))
    lamp = reports("m004")[0]
    assert again.similar(lamp["text"], lamp["title"])[0]["id"] == "m004-0"
    again.close()


ADD = """
import sys
from pathlib import Path
from sqmy.app.similar.index import SimilarIndex, Thresholds
from sqmy.app.similar.store import Entry
from sqmy.app.similar.vectors import Projection
directory, tag = Path(sys.argv[1]), sys.argv[2]
index = SimilarIndex(directory, Projection.load(directory / "projection"), Thresholds())
for n in range(0, 200, 20):
    index.add([Entry(id=f"{tag}-{i}", text=f"第{i}号{tag}路段的路灯不亮了，请维修" * 2) for i in range(n, n + 20)])
index.close()
"""


def test_two_processes_adding_at_once_lose_nothing(index_dir):
    procs = [subprocess.Popen([sys.executable, "-c", ADD, str(index_dir), tag], cwd=REPO) for tag in ("甲", "乙")]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    index = open_index(index_dir)
    assert index.store.count() == 400 and len(index) == 400
    found = index.similar("第17号乙路段的路灯不亮了，请维修" * 2)
    assert found[0]["id"] == "乙-17" and found[0]["kind"] == "duplicate"
    index.close()


def test_labels_of_an_item_follow_a_verdict(index_dir):
    index = open_index(index_dir)
    index.add(entries("m001"))
    assert index.set_labels("m001-0", topic="城乡建设/住房保障与房地产", lead="市住房和城乡建设局", verdict="correct")
    report = reports("m001")[0]
    found = index.similar(report["text"], report["title"])[0]
    assert (found["lead"], found["verdict"]) == ("市住房和城乡建设局", "correct")
    assert not index.set_labels("no-such-item", topic=None, lead=None, verdict="accept")
    index.close()


def test_cluster_groups_reports_of_one_matter_with_a_representative(index_dir):
    projection = Projection.load(index_dir / "projection")
    assert projection is not None
    items = [Item(e.id, e.text, e.title, e.topic, None, e.date) for m in ("m001", "m007", "m029") for e in entries(m)]
    groups = cluster(items, projection, Thresholds(same_matter=0.5))
    assert groups, "the reports of one matter should be grouped"
    for group in groups:
        assert len({m.split("-")[0] for m in group["members"]}) == 1  # never two matters in one group
        assert group["representative"]["id"] in group["members"] and group["reason"]


def test_a_fine_place_weight_lowers_only_the_items_that_name_another_village_estate_or_road(index_dir):
    """Street lamps out on 城南解放路 are not the lamps of 城西文化路: with ``fine_weight`` their scores drop by it,
    while the other reports of 文化路 keep theirs."""
    from sqmy.app.similar.places import place_overlap
    from sqmy.app.similar.service import thresholds
    from sqmy.core.config import Settings

    index = open_index(index_dir)
    index.add(entries("m004") + entries("m005") + entries("m151"))
    query = reports("m005")[0]
    index.thresholds = thresholds(Settings(SIMILAR_SCORE="cosine"))  # the place weights are the cosine score's
    plain = {a["id"]: a for a in index.similar(query["text"], query["title"], everything=True)}
    index.thresholds = thresholds(Settings(SIMILAR_SCORE="cosine", SIMILAR_FINE_WEIGHT=0.2))
    weighted = {a["id"]: a for a in index.similar(query["text"], query["title"], everything=True)}
    mine = places_of(f"{query['title']} {query['text']}")
    lowered = set()
    for key, answer in plain.items():
        row = next(e for e in entries(key.split("-")[0]) if e.id == key)
        fine, _town = place_overlap(mine, places_of(f"{row.title} {row.text}"))
        assert weighted[key]["score"] == pytest.approx(answer["score"] - (0.2 if fine == 0.0 else 0.0), abs=2e-4)
        if fine == 0.0:
            lowered.add(key.split("-")[0])
    assert "m005" not in lowered and "m151" in lowered
    index.close()


def corpus_entries(n: int) -> list[Entry]:
    """``n`` items of the bundled corpus (other matters of the same city) as unrelated background."""
    import json

    rows = [json.loads(line) for line in (REPO / "corpora" / "opinions.jsonl").open(encoding="utf-8")][:n]
    return [Entry(id=f"bg-{r['id']}", text=r["text"], title=r.get("title") or "") for r in rows]


def test_re_reports_stay_found_as_the_index_grows_with_unrelated_items(index_dir):
    """Among 3,000 unrelated reports of the same city, each query's best answer is still a report of its matter and
    most same-matter answers of the small index are still answers (the pairwise score judges a candidate against
    the query's own neighbours, whatever their number); the score reads as a probability."""
    index = open_index(index_dir)
    matters = [f"m{n:03d}" for n in (7, 13, 29, 44, 64, 71, 77, 85, 91, 99, 103, 117)]
    index.add([e for m in matters for e in entries(m)])

    def answers(m: str) -> list[dict]:
        query = reports(m)[1]
        return index.similar(query["text"], query["title"], exclude=f"{m}-1")

    small = {m: {a["id"] for a in answers(m) if a["id"].startswith(m + "-")} for m in matters}
    index.add(corpus_entries(3000))
    kept = 0
    for m in matters:
        found = answers(m)
        assert found and found[0]["id"].startswith(m + "-"), m
        assert all(0.0 <= a["score"] <= 1.0 for a in found if a["kind"] == "same_matter")
        kept += len(small[m] & {a["id"] for a in found})
    assert kept >= 0.8 * sum(len(v) for v in small.values())
    index.close()


def test_an_answer_in_another_town_scores_lower_than_the_same_answer_in_the_same_town():
    """The pairwise model: everything else equal, different towns lower the probability, a shared 村/小区 raises it."""
    import numpy as np

    from sqmy.app.similar import pairs

    def probability(places: tuple[float, float]) -> float:
        found = pairs.Candidates(dense=np.array([0.6, 0.3]), sparse=np.array([0.5, 0.2]), jaccard=np.zeros(2),
                                 places=[places, (0.5, 0.5)], query_len=60, candidate_len=np.array([80.0, 80.0]))
        return float(pairs.probability(pairs.features(found, background=0.25))[0])

    assert probability((0.5, 0.0)) < probability((0.5, 0.5)) < probability((1.0, 1.0))


def test_the_sparse_cosine_of_a_query_with_its_candidates_is_that_of_their_tf_idf_rows(index_dir):
    """What the pairwise model reads as ``sparse`` (computed in NumPy alone) is the product of the query's and each
    candidate's L2-normalised TF-IDF rows, including a candidate with nothing in common and an empty one."""
    projection = Projection.load(index_dir / "projection")
    assert projection is not None
    texts = [matter_text(item_text(r["title"], r["text"])) for m in ("m001", "m002") for r in reports(m)]
    query, candidates = texts[0], [*texts[1:], "", "𠀀𠀁", texts[0]]
    rows = projection.tfidf([query, *candidates], prepared=True)
    expected = np.asarray((rows[1:] @ rows[0].T).todense()).ravel()
    found = projection.cosines(query, candidates)
    assert found == pytest.approx(expected, abs=1e-6)
    assert found[-1] == pytest.approx(1.0) and found[-3] == found[-2] == 0.0
    assert (found[:len(reports("m001")) - 1].mean() > found[len(reports("m001")) - 1:-3].mean())  # own matter higher
    assert projection.cosines(query, []).shape == (0,)
