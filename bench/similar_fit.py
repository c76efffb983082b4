"""Fit and evaluate the pairwise same-matter model (``sqmy/app/similar/pairs.py``) (issue #17, rounds 4–8).

    .venv/bin/python bench/similar_fit.py --home /tmp/simq-real     # builds the realistic index once, then reuses it
    .venv/bin/python bench/similar_fit.py --home H --meaning ENCODER --embed-all   # the model for that encoder
    ... --write                                                       # and ship the refitted model

The labelled set (bench/similar/) is indexed among the realistic background of ``similar_eval.background_items``
(corpora/ and, read at run time only, the real archive of ../shared/data) in ``--home`` (kept: a second run reuses
it), and on its own (514 items, rebuilt each run: < 1 s). Every labelled query's candidates and their features
come from ``SimilarIndex.candidates``, as a server computes them. Gradient-boosted trees (``TREES``, monotone in
``pairs.MONOTONE``) are fitted on the dev half's (query, candidate) pairs among the realistic background (labels:
the same labelled matter); the threshold is the one with the highest recall@5 at precision >= 0.80 on the dev half,
read from out-of-fold probabilities (5 folds of dev queries: trees fit their own training pairs too closely for an
in-sample choice), and the model is offset so that it reads as the default threshold. The held-out half is
reported, among the background and alone, with the shipped model and the refitted one (``--write``: saved as the
shipped model of this configuration, ``pairs.model_name``); ``--logistic`` adds rounds 4–7's logistic regression
refitted the same way, for comparison.

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
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import similar_eval as ev  # noqa: E402
from sqmy.app.similar import pairs  # noqa: E402
from sqmy.app.similar.index import SimilarIndex, Thresholds, background  # noqa: E402
from sqmy.app.similar.meaning import CANDIDATES as MEANING_CANDIDATES  # noqa: E402
from sqmy.app.similar.meaning import (  # noqa: E402
    MeaningEncoder,
    MeaningFiller,
    encoder_dir,
    install_encoder,
    open_encoder,
)
from sqmy.app.similar.store import Entry  # noqa: E402
from sqmy.app.similar.trees import BoostedTrees  # noqa: E402
from sqmy.core.text import join_title  # noqa: E402


def open_built(home: Path, items: list[dict], others: list[dict],
               encoder: MeaningEncoder | None = None) -> SimilarIndex:
    """The index of ``items`` + ``others`` in ``home``, built when ``home`` holds none."""
    index = SimilarIndex(home, ev.projection(256), Thresholds(), encoder)
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


TREES = {"max_depth": 3, "max_iter": 200, "learning_rate": 0.05, "early_stopping": False, "random_state": 0}
FOLDS = 5


def answers(data: dict[str, dict], models: dict[str, BoostedTrees] | None = None,
            kind: str = "") -> dict[str, list[dict]]:
    """The answers as ``similar_eval.metrics`` reads them (``score``: the probability)."""
    return {q: [{"id": i, "score": float(p), "jaccard": float(j)} for i, p, j in
                zip(d["ids"], pairs.probability(d["x"], kind=kind, models=models), d["jaccard"], strict=True)]
            for q, d in data.items()}


def pairs_of(items: list[dict], data: dict[str, dict], queries: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The (query, candidate) rows of ``queries`` whose features are all known, and their labels."""
    matter = {i["id"]: i["matter"] for i in items}
    x = np.vstack([data[q]["x"] for q in queries])
    y = np.concatenate([[matter.get(a) == matter[q] for a in data[q]["ids"]] for q in queries])
    keep = ~np.isnan(x).any(axis=1)
    return x[keep], y[keep]


class Logistic:
    """A fitted logistic regression behind ``BoostedTrees``' two methods (``--logistic``)."""

    def __init__(self, model: Any, offset: float = 0.0) -> None:
        self.model, self.offset = model, offset

    def probability(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(1.0 / (1.0 + np.exp(-(self.model.decision_function(x) + self.offset))))

    def with_offset(self, offset: float) -> Logistic:
        return Logistic(self.model, offset)


def fit_model(x: np.ndarray, y: np.ndarray, *, logistic: bool = False) -> BoostedTrees | Logistic:
    """Trees over the columns of ``x`` (``pairs.FEATURES`` or ``pairs.MEANING_FEATURES``), or a logistic
    regression (scikit-learn's, to compare) behind the same two methods."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    names = pairs.MEANING_FEATURES if x.shape[1] > len(pairs.FEATURES) else pairs.FEATURES
    if logistic:
        return Logistic(LogisticRegression(max_iter=5000).fit(x, y))
    model = HistGradientBoostingClassifier(**TREES, monotonic_cst=[pairs.MONOTONE.get(n, 0) for n in names])
    return BoostedTrees.from_sklearn(model.fit(x, y), names)


def logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def fit(items: list[dict], data: dict[str, dict], dev: set[str], kind: str | None, *,
        logistic: bool = False) -> tuple[Any, float]:
    """The model for candidates scored as ``kind`` (``pairs.model_name``) fitted on the dev half, offset so that
    its dev threshold (chosen on out-of-fold probabilities) reads as the default; and that threshold."""
    name = pairs.model_name(kind)
    queries = sorted(dev)
    order = list(np.random.default_rng(0).permutation(queries))
    scored: dict[str, list[dict]] = {}
    for fold in range(FOLDS):
        held = set(order[fold::FOLDS])
        model = fit_model(*pairs_of(items, data, [q for q in queries if q not in held]), logistic=logistic)
        scored.update(answers({q: data[q] for q in held}, {name: model}, kind or ""))
    threshold = ev.threshold_on_dev(items, scored, Thresholds(), dev)
    model = fit_model(*pairs_of(items, data, queries), logistic=logistic)
    return model.with_offset(logit(Thresholds().same_matter) - logit(threshold)), threshold


def embed_candidates(index: SimilarIndex, items: list[dict]) -> int:
    """Embed by meaning the labelled items and every candidate of theirs that has no embedding yet (what the
    indexer would have done for the whole index; the figures only read these); how many were embedded."""
    assert index.encoder is not None
    encoder, index.encoder = index.encoder, None
    try:
        keys = {k for q in items for k in index.candidates(q["text"], q["title"], exclude=q["id"])[0]}
    finally:
        index.encoder = encoder
    keys |= set(index.store.keys_of([i["id"] for i in items]).values())
    missing = sorted(keys - set(index.store.meaning_of(sorted(keys))))
    rows = index.store.rows(missing)
    for start in range(0, len(missing), 256):
        chunk = missing[start:start + 256]
        vectors = encoder.embed([join_title(rows[k]["title"], rows[k]["text"]) for k in chunk])
        index.store.put_meaning(chunk, vectors)
        print(f"embedded {start + len(chunk)} / {len(missing)}", file=sys.stderr, flush=True)
    return len(missing)


def embed_all(index: SimilarIndex) -> int:
    """Embed every item that has no embedding yet, as the indexer would; how many."""
    assert index.encoder is not None
    filler, count = MeaningFiller(index.store, index.encoder), 0
    while done := filler.step(256):
        count += done
        print(f"embedded {count}", file=sys.stderr, flush=True)
    return count


def copy_meaning(source: SimilarIndex, target: SimilarIndex, ids: list[str]) -> None:
    """The embeddings of ``ids`` from one index's store into another's (same encoder)."""
    have = source.store.meaning_of(sorted(source.store.keys_of(ids).values()))
    keys = target.store.keys_of(ids)
    by_id = {i: source.store.key_of(i) for i in ids}
    pairs_ = [(keys[i], have[k]) for i, k in by_id.items() if k in have and i in keys]
    target.store.put_meaning([k for k, _ in pairs_], np.vstack([v for _, v in pairs_]))


def evaluate(every: list[dict], data: dict[str, dict], models: dict[str, Any] | None, kind: str,
             halves: tuple[set[str], set[str]]) -> dict:
    """The figures at the default threshold: the dev half (where the model was fitted), the held-out half, all."""
    dev, test = halves
    scored = answers(data, models, kind)
    t = Thresholds()
    return {"threshold": t.same_matter, "dev_half": ev.metrics(every, scored, t, dev),
            "test_half": ev.metrics(every, scored, t, test), "all": ev.metrics(every, scored, t, dev | test)}


def false_positives(every: list[dict], data: dict[str, dict], t: Thresholds, queries: set[str],
                    models: dict[str, Any] | None, kind: str = "") -> list[dict]:
    """Wrong-matter answers in the top 5 of ``queries`` (ids only), highest probability first (the refitted
    model's)."""
    matter = {i["id"]: i["matter"] for i in every}
    out = []
    for q, rows in answers(data, models, kind).items():
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
    parser.add_argument("--write", action="store_true", help="save the refitted model as the shipped one")
    parser.add_argument("--logistic", action="store_true", help="also refit rounds 4-7's logistic regression")
    parser.add_argument("--fp-out", type=Path, default=ev.OUT / "similar-pairwise-fp.jsonl")
    parser.add_argument("--meaning", type=Path, metavar="ENCODER", help="round 5: rerank by meaning with this "
                        "encoder (installed in --home once; the labelled items and their candidates embedded once)")
    parser.add_argument("--meaning-candidates", type=int, default=MEANING_CANDIDATES,
                        help="round 6: nearest items by meaning added to each query's candidates (0: none)")
    parser.add_argument("--embed-all", action="store_true", help="round 6: embed every indexed item that has no "
                        "embedding (what the indexer does; ≈ 30 items/s of one core), not only the candidates")
    args = parser.parse_args()
    items = ev.load_set()
    others, notes = ev.background_items()
    every = items + others
    halves = ev.halves(items)
    encoder = None
    if args.meaning is not None:
        if not (encoder_dir(args.home) / "meaning.json").is_file():
            install_encoder(args.meaning, args.home)
        encoder = open_encoder(args.home)
    index = open_built(args.home, items, others, encoder)
    if encoder is not None:
        embedded = embed_all(index) if args.embed_all else embed_candidates(index, items)
        notes.append(f"embedded by meaning now: {embedded}")
        index.sync()
        index.meaning_candidates = args.meaning_candidates
    real = collect(index, items)
    home = Path(tempfile.mkdtemp(prefix="sqmy-similar-plain-"))
    try:
        plain_index = open_built(home, items, [], encoder)
        if encoder is not None:
            copy_meaning(index, plain_index, [i["id"] for i in items])
        plain = collect(plain_index, items)
        plain_index.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
        index.close()
    kind = encoder.kind if encoder is not None else None
    name = pairs.model_name(kind)
    refit, threshold = fit(every, real, halves[0], kind)
    report: dict[str, Any] = {"notes": notes, "indexed": len(every), "model": name, "trees": TREES,
                              "refit_dev_threshold": round(threshold, 3)}
    compared: dict[str, dict[str, Any] | None] = {"refit": {name: refit}}
    if (pairs.MODELS / f"{name}.json").is_file():
        compared["shipped"] = None
    if args.logistic:
        logistic, logistic_threshold = fit(every, real, halves[0], kind, logistic=True)
        compared["logistic"] = {name: logistic}
        report["logistic_dev_threshold"] = round(logistic_threshold, 3)
    for label, models in compared.items():
        report[label] = {"realistic": evaluate(every, real, models, kind or "", halves),
                         "plain": evaluate(items, plain, models, kind or "", halves)}
    if args.write:
        refit.save(pairs.MODELS / f"{name}.json")
        report["written"] = str(pairs.MODELS / f"{name}.json")
    wrong = false_positives(every, real, Thresholds(), halves[1], {name: refit}, kind or "")
    args.fp_out.parent.mkdir(parents=True, exist_ok=True)
    args.fp_out.write_text("".join(json.dumps(w, ensure_ascii=False) + "\n" for w in wrong), encoding="utf-8")
    report["false_positives"] = {"file": str(args.fp_out), "count": len(wrong)}
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
