"""Fit and evaluate the pairwise same-matter model (``sqmy/app/similar/pairs.py``) (issue #17, round 4).

    .venv/bin/python bench/similar_fit.py --home /tmp/simq-real     # builds the realistic index once, then reuses it

The labelled set (bench/similar/) is indexed among the realistic background of ``similar_eval.background_items``
(corpora/ and, read at run time only, the real archive of ../shared/data) in ``--home`` (kept: a second run reuses
it), and on its own (514 items, rebuilt each run: < 1 s). Every labelled query's candidates and their features
come from ``SimilarIndex.candidates``, as a server computes them. A logistic regression is fitted on the dev
half's (query, candidate) pairs among the realistic background (labels: the same labelled matter); the threshold
on its probability is the one with the highest recall@5 at precision >= 0.80 on the dev half; the held-out half
is reported, among the background and alone, with the shipped coefficients (``pairs.COEFFICIENTS``) and the
refitted ones (printed, to paste into pairs.py when they should change).

Precision is also reported with the answers that bench/similar/realistic-same-matter.tsv judges to be genuinely
the labelled matter (background items that report it too) counted as right.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import similar_eval as ev  # noqa: E402
from sqmy.app.similar import pairs  # noqa: E402
from sqmy.app.similar.index import SimilarIndex, Thresholds, background  # noqa: E402
from sqmy.app.similar.store import Entry  # noqa: E402


def open_built(home: Path, items: list[dict], others: list[dict]) -> SimilarIndex:
    """The index of ``items`` + ``others`` in ``home``, built when ``home`` holds none."""
    index = SimilarIndex(home, ev.projection(256), Thresholds())
    if len(index) < len(items) + len(others):
        index.add([Entry(id=i["id"], text=i["text"], title=i["title"], source=i.get("source", "eval"))
                   for i in items + others])
        index.save()
    return index


def collect(index: SimilarIndex, items: list[dict]) -> dict[str, dict]:
    """Every labelled query's candidates: ids, features, Jaccard estimates."""
    out = {}
    for q in items:
        keys, rows, found = index.candidates(q["text"], q["title"], exclude=q["id"])
        mixed = (found.dense + found.sparse) / 2
        out[q["id"]] = {"ids": [rows[k]["id"] for k in keys], "x": pairs.features(found, background(list(mixed))),
                        "jaccard": found.jaccard}
    return out


def answers(data: dict[str, dict], coefficients: dict[str, float], intercept: float) -> dict[str, list[dict]]:
    """The answers as ``similar_eval.metrics`` reads them (``score``: the probability)."""
    return {q: [{"id": i, "score": float(p), "jaccard": float(j)} for i, p, j in
                zip(d["ids"], pairs.probability(d["x"], coefficients, intercept), d["jaccard"], strict=True)]
            for q, d in data.items()}


def fit(items: list[dict], data: dict[str, dict], dev: set[str], c: float) -> tuple[dict[str, float], float]:
    from sklearn.linear_model import LogisticRegression

    matter = {i["id"]: i["matter"] for i in items}
    x = np.vstack([data[q]["x"] for q in sorted(dev)])
    y = np.concatenate([[matter.get(a) == matter[q] for a in data[q]["ids"]] for q in sorted(dev)])
    model = LogisticRegression(C=c, max_iter=5000).fit(x, y)
    return ({n: round(float(w), 3) for n, w in zip(pairs.FEATURES, model.coef_[0], strict=True)},
            round(float(model.intercept_[0]), 3))


def evaluate(every: list[dict], data: dict[str, dict], coef: dict[str, float], intercept: float,
             halves: tuple[set[str], set[str]], threshold: float | None = None) -> dict:
    """Held-out figures at ``threshold`` (None: chosen on the dev half)."""
    dev, test = halves
    scored = answers(data, coef, intercept)
    if threshold is None:
        threshold = ev.threshold_on_dev(every, scored, Thresholds(), dev)
    t = Thresholds(same_matter=threshold)
    return {"threshold": threshold, "dev_half": ev.metrics(every, scored, t, dev),
            "test_half": ev.metrics(every, scored, t, test),
            "all": ev.metrics(every, scored, t, dev | test)}


def false_positives(every: list[dict], data: dict[str, dict], t: Thresholds, queries: set[str]) -> list[dict]:
    """Wrong-matter answers in the top 5 of ``queries`` (ids only), highest probability first."""
    matter = {i["id"]: i["matter"] for i in every}
    out = []
    for q, rows in answers(data, pairs.COEFFICIENTS, pairs.INTERCEPT).items():
        if q not in queries:
            continue
        kept = sorted((a for a in rows if a["jaccard"] >= t.duplicate or a["score"] >= t.same_matter),
                      key=lambda a: (a["jaccard"] < t.duplicate, -a["score"]))[:5]
        out += [{"query": q, "matter": matter[q], "answer": a["id"], "score": round(a["score"], 3)}
                for a in kept if matter[a["id"]] != matter[q]]
    return sorted(out, key=lambda r: -r["score"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="where the realistic index is built (kept)")
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularisation of the refit")
    parser.add_argument("--fp-out", type=Path, default=ev.OUT / "similar-pairwise-fp.jsonl")
    args = parser.parse_args()
    items = ev.load_set()
    others, notes = ev.background_items()
    every = items + others
    halves = ev.halves(items)
    index = open_built(args.home, items, others)
    real = collect(index, items)
    index.close()
    home = Path(tempfile.mkdtemp(prefix="sqmy-similar-plain-"))
    try:
        plain_index = open_built(home, items, [])
        plain = collect(plain_index, items)
        plain_index.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    coef, intercept = fit(every, real, halves[0], args.c)
    shipped = (pairs.COEFFICIENTS, pairs.INTERCEPT)
    report = {"notes": notes, "indexed": len(every), "refit_coefficients": coef, "refit_intercept": intercept}
    for name, (cf, ic) in (("shipped", shipped), ("refit", (coef, intercept))):
        chosen = evaluate(every, real, cf, ic, halves)
        report[name] = {"realistic_dev_chosen": chosen,
                        "realistic_at_default": evaluate(every, real, cf, ic, halves, Thresholds().same_matter),
                        "plain_at_default": evaluate(items, plain, cf, ic, halves, Thresholds().same_matter)}
    wrong = false_positives(every, real, Thresholds(), halves[1])
    args.fp_out.parent.mkdir(parents=True, exist_ok=True)
    args.fp_out.write_text("".join(json.dumps(w, ensure_ascii=False) + "\n" for w in wrong), encoding="utf-8")
    report["false_positives"] = {"file": str(args.fp_out), "count": len(wrong)}
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
