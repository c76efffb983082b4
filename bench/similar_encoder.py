"""How well an encoder alone finds a labelled report's other reports (issue #17, similar items, round 7).

    .venv/bin/python bench/similar_encoder.py ENCODER [--background 3000]

The labelled set (bench/similar/) among a seeded sample of the realistic background (``similar_eval``), each item
embedded as the index stores it (the encoder's pooled int8 graph, ``install_encoder``; 128 tokens) and each
labelled report as a text query (64 tokens); candidates ranked by cosine alone, nothing else of the pairwise model.
Prints recall@5 and MRR of the same matter per half, and the thresholded figure the target is stated in: the top 5
kept when their cosine reaches one threshold, chosen on the dev half for the highest recall@5 at precision ≥ 0.80,
then read on the held-out half. A cheap screen (≈ 1.5 minutes for 3,000 background items on 2 cores) before the
full ``similar_fit.py --meaning --embed-all`` run over 18,936 items.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import similar_eval as ev  # noqa: E402
from sqmy.app.similar.meaning import MAX_TOKENS, QUERY_TOKENS, MeaningEncoder, install_encoder  # noqa: E402
from sqmy.core.text import join_title  # noqa: E402


def embedder(source: Path, work: Path):
    """A function embedding texts (unit rows) with ``source``'s installed graph, as the index does, two threads."""
    encoder = MeaningEncoder(install_encoder(source, work), threads=2)
    return lambda texts, max_tokens: encoder.embed(texts, max_tokens=max_tokens)


def figures(items: list[dict], matter: list[str], sims: np.ndarray, dev: set[str]) -> dict:
    """Recall@5 and MRR by cosine per half; the thresholded recall@5 at precision ≥ 0.80 (threshold from dev)."""
    same = [{j for j in range(len(items)) if j != q and matter[j] == it["matter"] and not it.get("dup_of")
             and not items[j].get("dup_of")} for q, it in enumerate(items)]
    sims = sims.copy()
    sims[np.arange(len(items)), np.arange(len(items))] = -9.0
    top = np.argsort(-sims, axis=1)[:, :5]
    halves = {"dev": [q for q, it in enumerate(items) if it["id"] in dev],
              "held_out": [q for q, it in enumerate(items) if it["id"] not in dev]}
    out: dict = {}
    for half, queries in halves.items():
        asked = [q for q in queries if same[q]]
        out[f"recall_at_5_{half}"] = round(float(np.mean([len(set(top[q]) & same[q]) / min(5, len(same[q]))
                                                          for q in asked])), 4)
        first = [int(np.min([np.sum(sims[q] > sims[q, j]) for j in same[q]])) for q in asked]
        out[f"mrr_{half}"] = round(float(np.mean([1 / (1 + r) for r in first])), 4)

    def at(threshold: float, queries: list[int]) -> tuple[float, float]:
        kept = [[j for j in top[q] if sims[q, j] >= threshold] for q in queries]
        right = sum(matter[j] == items[q]["matter"] for q, ks in zip(queries, kept, strict=True) for j in ks)
        total = sum(len(ks) for ks in kept)
        recall = [sum(j in same[q] for j in ks) / min(5, len(same[q]))
                  for q, ks in zip(queries, kept, strict=True) if same[q]]
        return right / max(total, 1), float(np.mean(recall))
    grid = [(t, *at(t, halves["dev"])) for t in np.arange(0.3, 1.0, 0.0025)]
    ok = [g for g in grid if g[1] >= 0.80]
    if ok:
        threshold, precision, recall = max(ok, key=lambda g: g[2])
        held = at(threshold, halves["held_out"])
        out["thresholded"] = {"threshold": round(float(threshold), 4), "dev": [round(precision, 3), round(recall, 3)],
                              "held_out": [round(held[0], 3), round(held[1], 3)]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("encoder", type=Path, help="an encoder checkpoint (Hugging Face directory)")
    parser.add_argument("--background", type=int, default=3000, help="background items sampled (seeded)")
    args = parser.parse_args()
    items = ev.load_set()
    others, notes = ev.background_items()
    every = items + random.Random(0).sample(others, min(args.background, len(others)))
    with tempfile.TemporaryDirectory(prefix="sqmy-encoder-") as work:
        embed = embedder(args.encoder, Path(work))
        stored = embed([join_title(i["title"], i["text"]) for i in every], MAX_TOKENS)
        queries = embed([join_title(i["title"], i["text"]) for i in items], QUERY_TOKENS)
    report = {"encoder": str(args.encoder), "background": len(every) - len(items), "notes": notes,
              **figures(items, [i["matter"] for i in every], queries @ stored.T, ev.halves(items)[0])}
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
