"""Evaluate similar items, duplicates and merge groups on the hand-written set in bench/similar/ (issue #17).

    .venv/bin/python bench/similar_eval.py                   # quality at the default thresholds (+ a grid)
    .venv/bin/python bench/similar_eval.py --scale 100000    # indexing rate, memory, query latency at 100k
    .venv/bin/python bench/similar_eval.py --realistic       # the same queries among ~19k realistic messages

``--realistic`` indexes, as background to the labelled set, the corpus's own items (corpora/, one matter each) and,
read at run time only (never copied into the repository), the real messages of ../shared/data/real-archive-train.jsonl
and real-archive-dev.jsonl (skipped, with a note, when absent). A background item is never an answer of the
query's matter (so a corpus item that does report the same matter counts against precision: see ``--false-positives``).

The set (bench/similar/matters.jsonl, kept out of training: not under corpora/) has 151 matters, each reported 3-4
times in other words, genres (12345工单, 网络问政留言, 社情民意信息, 提案) and lengths; matters share places (the same
estate or street with another matter) and types (the same kind of problem elsewhere) as hard negatives.
Duplicates are made from every third matter's first report by what a repeat submission changes (a prefix, a
follow-up sentence, punctuation, a shortened title): see ``duplicate_of``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqmy.app.similar.cluster import Item, cluster  # noqa: E402
from sqmy.app.similar.index import SimilarIndex, Thresholds, score  # noqa: E402
from sqmy.app.similar.store import Entry  # noqa: E402
from sqmy.app.similar.vectors import Projection, item_text  # noqa: E402

SET = REPO / "bench" / "similar" / "matters.jsonl"
ADJUDICATED = REPO / "bench" / "similar" / "realistic-same-matter.tsv"
SHARED = REPO.parent / "shared" / "data"
REAL_ARCHIVE = ("real-archive-train.jsonl", "real-archive-dev.jsonl")
OUT = REPO / "bench" / "out"
PREFIXES = ("再次反映：", "重复来电：", "之前反映过，", "")
FOLLOW_UPS = ("至今仍未解决，请尽快处理。", "上次反映后没有回音，再提一次。", "", "希望尽快答复。")


def duplicate_of(report: dict, n: int) -> dict:
    """A repeat submission of ``report``: what a citizen re-sending it changes, chosen by ``n``."""
    text = PREFIXES[n % 4] + report["text"] + FOLLOW_UPS[(n // 4) % 4]
    if n % 3 == 0:
        text = text.replace("，", ",").replace("。", "！")
    title = report["title"] if n % 2 else report["title"][: max(4, len(report["title"]) - 3)]
    return {"genre": report["genre"], "title": title, "text": text}


def load_set() -> list[dict]:
    """Every report: ``{id, matter, title, text, genre, dup_of}`` (``dup_of``: the report a duplicate copies)."""
    items = []
    matters = [json.loads(line) for line in SET.open(encoding="utf-8")]
    for m_no, matter in enumerate(matters):
        for r_no, report in enumerate(matter["reports"]):
            items.append({"id": f"{matter['matter']}-{r_no}", "matter": matter["matter"], **report, "dup_of": None})
        if m_no % 3 == 0:
            items.append({"id": f"{matter['matter']}-dup", "matter": matter["matter"],
                          **duplicate_of(matter["reports"][0], m_no), "dup_of": f"{matter['matter']}-0"})
    return items


def corpus_texts() -> list[str]:
    rows = [json.loads(line) for line in (REPO / "corpora" / "opinions.jsonl").open(encoding="utf-8")]
    return [item_text(r.get("title", ""), r["text"]) for r in rows]


def projection(dim: int) -> Projection:
    """The projection fitted on corpora/ (cached under bench/out/)."""
    directory = OUT / f"similar-projection-{dim}"
    found = Projection.load(directory)
    if found is None:
        started = time.perf_counter()
        found = Projection.fit(corpus_texts(), dim=dim)
        found.save(directory)
        print(f"fitted the {dim}-dim projection in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return found


def background_items(shared: Path = SHARED,
                     sources: Sequence[str] = ("corpus", "real")) -> tuple[list[dict], list[str]]:
    """Realistic unrelated items: every corpus item, and the real archive messages when ``shared`` has them
    (``matter``: the item itself); with notes on what was found."""
    out, notes = [], []
    corpus = (REPO / "corpora" / "opinions.jsonl").open(encoding="utf-8") if "corpus" in sources else []
    for row in (json.loads(line) for line in corpus):
        out.append({"id": f"bg-c-{row['id']}", "matter": f"bg-c-{row['id']}", "title": row.get("title") or "",
                    "text": row["text"], "dup_of": None, "source": "corpus"})
    for name in REAL_ARCHIVE if "real" in sources else ():
        path = shared / name
        if not path.is_file():
            notes.append(f"{path} absent: real messages left out of the background")
            continue
        for n, line in enumerate(path.open(encoding="utf-8")):
            row = json.loads(line)
            ident = f"bg-r-{name.split('-')[2].split('.')[0]}-{n}"
            out.append({"id": ident, "matter": ident, "title": row.get("title") or "", "text": row["text"],
                        "dup_of": None, "source": "real"})
    return out, notes


def is_dup(a: dict, b: dict) -> bool:
    return a["id"] == b.get("dup_of") or b["id"] == a.get("dup_of")


def scored(index: SimilarIndex, items: list[dict]) -> dict[str, list[dict]]:
    """Every query's scored candidates (all of them, whatever the thresholds)."""
    return {q["id"]: index.similar(q["text"], q["title"], exclude=q["id"], everything=True) for q in items}


def adjudicated() -> set[tuple[str, str]]:
    """(labelled matter, background id) pairs read by hand as the same matter (bench/similar/realistic-same-matter.tsv;
    ``#`` lines are comments)."""
    if not ADJUDICATED.is_file():
        return set()
    rows = [x.split("\t") for x in ADJUDICATED.read_text(encoding="utf-8").splitlines() if x and x[0] != "#"]
    return {(a.strip(), b.strip()) for a, b, *_ in rows}


def metrics(items: list[dict], answers: dict[str, list[dict]], t: Thresholds, queries: set[str]) -> dict:
    """Precision/recall of duplicates and same-matter at thresholds ``t`` over the ``queries``; precision also with
    the background answers judged to be the query's matter (``adjudicated``) counted as right."""
    by_id = {i["id"]: i for i in items}
    size = Counter(i["matter"] for i in items)
    sm_tp = sm_ret = dup_tp = dup_ret = judged_tp = 0
    recall5, hard_fp, judged = [], 0, adjudicated()
    dup_pairs = sum(1 for i in items if i["dup_of"] and i["id"] in queries) + sum(
        1 for i in items if i["dup_of"] and i["dup_of"] in queries)
    for qid in queries:
        q = by_id[qid]
        kept = []
        for a in answers[qid]:
            dup = a["jaccard"] >= t.duplicate
            value = a["cosine_score"] if "cosine_score" in a else a["score"]
            if dup or value >= t.same_matter:
                kept.append((not dup, -value, a["id"], dup))
        kept.sort()
        top = kept[:5]
        rel = size[q["matter"]] - 1
        hits = sum(by_id[a]["matter"] == q["matter"] for _, _, a, _ in top)
        sm_tp, sm_ret = sm_tp + hits, sm_ret + len(top)
        recall5.append(hits / min(rel, 5))
        hard_fp += sum(1 for _, _, a, _ in top if by_id[a]["matter"] != q["matter"])
        judged_tp += sum(1 for _, _, a, _ in top if (q["matter"], a) in judged)
        for _, _, a, dup in kept:
            if dup:
                dup_ret += 1
                dup_tp += is_dup(q, by_id[a])
    return {"same_matter_precision": round(sm_tp / max(sm_ret, 1), 4),
            "same_matter_precision_adjudicated": round((sm_tp + judged_tp) / max(sm_ret, 1), 4),
            "same_matter_recall_at_5": round(statistics.mean(recall5), 4),
            "duplicate_precision": round(dup_tp / dup_ret, 4) if dup_ret else None,
            "duplicate_recall": round(dup_tp / max(dup_pairs, 1), 4), "wrong_matter_answers": hard_fp,
            "queries": len(queries)}


def rescored(answers: dict[str, list[dict]], t: Thresholds) -> dict[str, list[dict]]:
    """The answers re-scored with other place weights (cosine and place overlap are kept per answer)."""
    out = {}
    for qid, rows in answers.items():
        out[qid] = [a | {"cosine_score": score(a["cosine"], (a["fine"], a["town"]), t)} for a in rows]
    return out


def with_parts(index: SimilarIndex, items: list[dict], others: Sequence[dict] = ()) -> dict[str, list[dict]]:
    """Scored candidates of the ``items`` (the queries) with their cosine and place overlaps separated (for the
    threshold grid); ``others``: the rest of the indexed items (background)."""
    zero = Thresholds(duplicate=index.thresholds.duplicate, same_matter=-9, place_weight=0, town_weight=0,
                      background=index.thresholds.background, model="cosine")
    saved, index.thresholds = index.thresholds, zero
    try:
        plain = scored(index, items)
    finally:
        index.thresholds = saved
    from sqmy.app.similar.places import place_overlap, places_of

    texts = {i["id"]: f"{i['title']} {i['text']}" for i in items + list(others)}
    places: dict[str, set[str]] = {}
    for qid, rows in plain.items():
        for a in rows:
            for key in (qid, a["id"]):
                if key not in places:
                    places[key] = places_of(texts[key])
            a["cosine"] = a["score"]
            a["fine"], a["town"] = place_overlap(places[qid], places[a["id"]])
    return plain


def purity(items: list[dict], proj: Projection, t: Thresholds) -> dict:
    """Cluster purity (share of items in a group whose majority matter is theirs; singletons count as pure) and
    the share of same-matter pairs that land in one group."""
    groups = cluster([Item(i["id"], i["text"], i["title"]) for i in items], proj, t)
    matter = {i["id"]: i["matter"] for i in items}
    grouped = sum(g["size"] for g in groups)
    majority = sum(Counter(matter[m] for m in g["members"]).most_common(1)[0][1] for g in groups)
    together = Counter()
    for g in groups:
        for m, n in Counter(matter[x] for x in g["members"]).items():
            together[m] += n * (n - 1) // 2
    size = Counter(matter.values())
    pairs = sum(n * (n - 1) // 2 for n in size.values())
    return {"groups": len(groups), "matters": len(size), "grouped_items": grouped,
            "purity": round((majority + len(items) - grouped) / len(items), 4),
            "purity_of_grouped": round(majority / max(grouped, 1), 4),
            "pair_recall": round(sum(together.values()) / pairs, 4)}


def grid_best(items: list[dict], parts: dict[str, list[dict]], thresholds: Thresholds, dev: set[str],
              fine_weights: Sequence[float] = (0.0,)) -> tuple[Thresholds, dict]:
    """The thresholds with the highest recall@5 at precision >= 0.80 on the ``dev`` queries (grid over the
    same-matter threshold 0.10-0.49, place weight 0/0.03/0.06, town weight 0/0.1/0.2, the ``fine_weights``;
    background weight fixed)."""
    grid = []
    for pw, tw, fw in itertools.product((0.0, 0.03, 0.06), (0.0, 0.1, 0.2), fine_weights):
        answers = rescored(parts, Thresholds(thresholds.duplicate, 0, pw, tw, thresholds.background, fw, "cosine"))
        for thr in np.arange(0.10, 0.50, 0.01):
            t = Thresholds(thresholds.duplicate, round(float(thr), 3), pw, tw, thresholds.background, fw, "cosine")
            grid.append((t, metrics(items, answers, t, dev)))
    ok = [(t, m) for t, m in grid if m["same_matter_precision"] >= 0.80]
    return max(ok or grid, key=lambda tm: (tm[1]["same_matter_recall_at_5"], tm[1]["same_matter_precision"]))


def clusters(items: list[dict], proj: Projection, t: Thresholds) -> dict:
    """Merge-group purity at link scores 0.45-0.60 (cosine score, no background: ``cluster``)."""
    return {f"link at {c:.2f}": purity(items, proj, Thresholds(t.duplicate, c, t.place_weight, t.town_weight))
            for c in (0.45, 0.5, 0.55, 0.6)}


def halves(items: list[dict]) -> tuple[set[str], set[str]]:
    """The dev half (even-numbered matters) and the held-out half of the labelled items."""
    matters = sorted({i["matter"] for i in items})
    dev = {i["id"] for i in items if matters.index(i["matter"]) % 2 == 0}
    return dev, {i["id"] for i in items} - dev


def false_positives(items: list[dict], answers: dict[str, list[dict]], t: Thresholds,
                    queries: set[str]) -> list[dict]:
    """The wrong-matter answers in the top 5 of the ``queries`` at ``t``, highest score first (for reading)."""
    by_id = {i["id"]: i for i in items}
    out = []
    for qid in sorted(queries):
        kept = sorted((a for a in answers[qid] if a["jaccard"] >= t.duplicate or a["cosine_score"] >= t.same_matter),
                      key=lambda a: (a["jaccard"] < t.duplicate, -a["cosine_score"]))[:5]
        for a in kept:
            if by_id[a["id"]]["matter"] != by_id[qid]["matter"]:
                q, b = by_id[qid], by_id[a["id"]]
                out.append({"score": round(a["cosine_score"], 4), "query": qid, "answer": a["id"],
                            "source": b.get("source", "labelled"), "query_text": f"{q['title']}｜{q['text']}",
                            "answer_text": f"{b['title']}｜{b['text']}"})
    return sorted(out, key=lambda r: -r["score"])


def threshold_on_dev(items: list[dict], answers: dict[str, list[dict]], t: Thresholds, dev: set[str]) -> float:
    """The pairwise model's probability threshold (0.05-0.95) with the highest recall@5 at precision >= 0.80 on the
    ``dev`` queries."""
    grid = [(round(float(x), 2), metrics(items, answers, replace(t, same_matter=float(x)), dev))
            for x in np.arange(0.05, 0.96, 0.01)]
    ok = [g for g in grid if g[1]["same_matter_precision"] >= 0.80] or grid
    return max(ok, key=lambda g: (g[1]["same_matter_recall_at_5"], g[1]["same_matter_precision"]))[0]


def pairwise_report(items: list[dict], answers: dict[str, list[dict]], t: Thresholds, dev: set[str],
                    test: set[str]) -> dict:
    """The pairwise model's figures at ``t`` and at the threshold chosen on the dev half (held-out half reported)."""
    best = replace(t, same_matter=threshold_on_dev(items, answers, t, dev))
    return {"given": {"thresholds": t.__dict__, "dev_half": metrics(items, answers, t, dev),
                      "test_half": metrics(items, answers, t, test), "all": metrics(items, answers, t, dev | test)},
            "best_on_dev": {"thresholds": best.__dict__, "dev_half": metrics(items, answers, best, dev),
                            "test_half": metrics(items, answers, best, test)}}


def realistic(dim: int, thresholds: Thresholds, weights: Sequence[float], fp_out: Path | None,
              sources: Sequence[str] = ("corpus", "real")) -> dict:
    """The labelled queries among a realistic background (``background_items``): at the given thresholds, and
    with thresholds chosen on the dev half for each background weight in ``weights``; held-out half reported."""
    items = load_set()
    others, notes = background_items(sources=sources)
    every = items + others
    proj = projection(dim)
    dev, test = halves(items)
    home = Path(tempfile.mkdtemp(prefix="sqmy-similar-real-"))
    report: dict = {"dim": dim, "labelled": len(items), "notes": notes,
                    "background": dict(Counter(o["source"] for o in others)), "weights": {}}
    try:
        index = SimilarIndex(home, proj, thresholds)
        started = time.perf_counter()
        index.add([Entry(id=i["id"], text=i["text"], title=i["title"], source=i.get("source", "eval"))
                   for i in every])
        report["index_seconds"] = round(time.perf_counter() - started, 1)
        if thresholds.model == "pairwise":
            answers = {q: [a | {"cosine_score": a["score"]} for a in rows] for q, rows in scored(index, items).items()}
            report["pairwise"] = pairwise_report(every, answers, thresholds, dev, test)
            if fp_out is not None:
                write_false_positives(fp_out, false_positives(every, answers, thresholds, test), report)
            weights = ()
        for weight in weights:
            t = replace(thresholds, background=weight)
            index.thresholds = t
            parts = with_parts(index, items, others)
            best, dev_m = grid_best(every, parts, t, dev, (0.0, 0.05, 0.1, 0.2))
            at_t, chosen = rescored(parts, t), rescored(parts, best)
            report["weights"][str(weight)] = {
                "given": {"thresholds": t.__dict__, "dev_half": metrics(every, at_t, t, dev),
                          "test_half": metrics(every, at_t, t, test)},
                "best_on_dev": {"thresholds": best.__dict__, "dev_half": dev_m,
                                "test_half": metrics(every, chosen, best, test)}}
            if fp_out is not None and weight == weights[0]:
                write_false_positives(fp_out, false_positives(every, chosen, best, test), report)
        index.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return report


def write_false_positives(path: Path, wrong: list[dict], report: dict) -> None:
    """The wrong answers for reading (under bench/out/, never committed: they quote ../shared texts)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(w, ensure_ascii=False) + "\n" for w in wrong), encoding="utf-8")
    report["false_positives"] = {"file": str(path), "count": len(wrong),
                                 "by_source": dict(Counter(w["source"] for w in wrong))}


def quality(dim: int, thresholds: Thresholds) -> dict:
    items = load_set()
    proj = projection(dim)
    home = Path(tempfile.mkdtemp(prefix="sqmy-similar-eval-"))
    try:
        index = SimilarIndex(home, proj, thresholds)
        index.add([Entry(id=i["id"], text=i["text"], title=i["title"], source="eval") for i in items])
        parts = with_parts(index, items)
        answers = scored(index, items) if thresholds.model == "pairwise" else None
        index.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    matters = sorted({i["matter"] for i in items})
    dev, test = halves(items)
    if answers is not None:
        return {"dim": dim, "items": len(items), "matters": len(matters),
                "pairwise": pairwise_report(items, answers, thresholds, dev, test),
                "clusters": clusters(items, proj, thresholds)}
    best = grid_best(items, parts, thresholds, dev)[0]
    answers = rescored(parts, thresholds)
    chosen = rescored(parts, best)
    return {"dim": dim, "items": len(items), "matters": len(matters),
            "default": {"thresholds": thresholds.__dict__, "all": metrics(items, answers, thresholds, dev | test),
                        "test_half": metrics(items, answers, thresholds, test),
                        "clusters": clusters(items, proj, thresholds)},
            "best_on_dev": {"thresholds": best.__dict__, "dev_half": metrics(items, chosen, best, dev),
                            "test_half": metrics(items, chosen, best, test)},
            "no_places": metrics(items, rescored(parts, replace(thresholds, place_weight=0, town_weight=0)),
                                 thresholds, dev | test)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, nargs="+", default=[256])
    parser.add_argument("--duplicate", type=float, default=Thresholds.duplicate)
    parser.add_argument("--same-matter", type=float, default=Thresholds.same_matter)
    parser.add_argument("--place-weight", type=float, default=Thresholds.place_weight)
    parser.add_argument("--town-weight", type=float, default=Thresholds.town_weight)
    parser.add_argument("--background", type=float, default=Thresholds.background)
    parser.add_argument("--scale", type=int, default=0, help="index this many filler items and time it")
    parser.add_argument("--realistic", action="store_true",
                        help="the labelled queries among corpora/ and the real archive (../shared/data) as background")
    parser.add_argument("--weights", type=float, nargs="+", default=None,
                        help="with --realistic: background weights to try (default: --background alone)")
    parser.add_argument("--sources", nargs="+", choices=("corpus", "real"), default=["corpus", "real"],
                        help="with --realistic: which background to index")
    parser.add_argument("--fine-weight", type=float, default=Thresholds.fine_weight)
    parser.add_argument("--model", choices=("pairwise", "cosine"), default=Thresholds.model,
                        help="how answers are scored (cosine: round 3's score; --same-matter 0.31 is its default)")
    parser.add_argument("--false-positives", type=Path, default=OUT / "similar-realistic-fp.jsonl",
                        help="with --realistic: where the held-out half's wrong answers are written (for reading)")
    args = parser.parse_args()
    t = Thresholds(args.duplicate, args.same_matter, args.place_weight, args.town_weight, args.background,
                   args.fine_weight, args.model)
    if args.realistic:
        report = realistic(args.dim[0], t, args.weights or [args.background], args.false_positives, args.sources)
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return
    if args.scale:
        from bench.similar_scale import scale

        print(json.dumps(scale(args.scale, projection(args.dim[0]), t), ensure_ascii=False, indent=1))
        return
    for dim in args.dim:
        print(json.dumps(quality(dim, t), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
