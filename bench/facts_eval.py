"""Precision and recall of the facts inside an item (issue #17) on the labelled synthetic set bench/facts/items.jsonl.

A prediction counts when its kind, start and end equal a gold span's (exact match); places also report how many
matched spans have the right level, and recall per level. Extraction runs as the service runs it: the shipped
directory's towns, streets and city known as places.

    .venv/bin/python bench/facts_eval.py              # the table
    .venv/bin/python bench/facts_eval.py --errors 30  # and the first 30 misses and false alarms
    SQMY_HOME=var .venv/bin/python bench/facts_eval.py --cost   # and what facts add to routing one item (TF-IDF)
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from sqmy.app.knowledge import DirectoryKnowledge
from sqmy.core.config import Settings
from sqmy.core.facts import FACT_KINDS, extract_facts

SET = Path(__file__).parent / "facts" / "items.jsonl"


def context(text: str, key: tuple[str, int, int]) -> str:
    return f"…{text[max(0, key[1] - 8):key[2] + 8]}…"


def evaluate(items: list[dict], errors: int = 0) -> dict[str, dict[str, float]]:
    localities = DirectoryKnowledge.from_settings(Settings()).place_names
    tp, predicted, gold = Counter(), Counter(), Counter()
    level_ok, level_gold, level_tp = 0, Counter(), Counter()
    shown = 0
    extract_facts(items[0]["text"], localities=localities)  # loads the gazetteer and the libraries: not timed
    started = time.perf_counter()
    found_all = [extract_facts(item["text"], localities=localities) for item in items]
    seconds = time.perf_counter() - started
    for item, found in zip(items, found_all, strict=True):
        truth = {(g["kind"], g["start"], g["end"]): g for g in item["gold"]}
        guess = {(f.kind, f.start, f.end): f for f in found}
        for key, g in truth.items():
            gold[key[0]] += 1
            if g.get("level"):
                level_gold[g["level"]] += 1
            if key in guess:
                tp[key[0]] += 1
                if g.get("level"):
                    level_tp[g["level"]] += 1
                    level_ok += guess[key].level == g["level"]
            elif shown < errors:
                shown += 1
                print(f"MISS  {item['id']} {key[0]:9} {g['text']!r:24} in {context(item['text'], key)}")
        for key, f in guess.items():
            predicted[key[0]] += 1
            if key not in truth and shown < errors:
                shown += 1
                print(f"FALSE {item['id']} {key[0]:9} {f.text!r:24} in {context(item['text'], key)}")
    report = {}
    for kind in FACT_KINDS:
        p = tp[kind] / predicted[kind] if predicted[kind] else 0.0
        r = tp[kind] / gold[kind] if gold[kind] else 0.0
        report[kind] = {"gold": gold[kind], "predicted": predicted[kind], "precision": round(p, 3),
                        "recall": round(r, 3), "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0}
    report["place levels"] = {"right level among matched places": round(level_ok / max(tp["place"], 1), 3),
                              **{f"recall {lv}": round(level_tp[lv] / level_gold[lv], 3) for lv in sorted(level_gold)}}
    report["speed"] = {"items": len(items), "ms per item": round(seconds / len(items) * 1000, 3),
                       "chars per item": round(sum(len(i["text"]) for i in items) / len(items))}
    return report


def cost(items: list[dict], rounds: int = 3) -> dict[str, float]:
    """Milliseconds per item of TF-IDF routing without and with facts (the promoted model under SQMY_HOME;
    batches of 32, as the service's micro-batcher forms them under load; best of ``rounds``)."""
    from sqmy.app.archive.predictor import PredictorSpec
    from sqmy.models.base import Doc

    router = PredictorSpec.from_settings(Settings(), "tfidf").load().router
    docs = [Doc(item["text"]) for item in items]
    out = {}
    for facts in (False, True):
        router.classify(docs[:32], engine="tfidf", facts=facts)
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            for n in range(0, len(docs), 32):
                router.classify(docs[n:n + 32], engine="tfidf", facts=facts)
            best = min(best, time.perf_counter() - started)
        out["ms per item with facts" if facts else "ms per item without facts"] = round(best / len(docs) * 1000, 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=SET)
    parser.add_argument("--errors", type=int, default=0, help="print this many misses and false alarms")
    parser.add_argument("--cost", action="store_true", help="time TF-IDF routing with and without facts")
    args = parser.parse_args()
    items = [json.loads(line) for line in args.set.read_text(encoding="utf-8").splitlines() if line.strip()]
    report = evaluate(items, args.errors)
    print(f"\n{len(items)} items, {args.set}")
    print(f"{'kind':10} {'gold':>5} {'pred':>5} {'P':>6} {'R':>6} {'F1':>6}")
    for kind in FACT_KINDS:
        row = report[kind]
        print(f"{kind:10} {row['gold']:5} {row['predicted']:5} {row['precision']:6.3f} {row['recall']:6.3f} "
              f"{row['f1']:6.3f}")
    print(json.dumps({k: report[k] for k in ("place levels", "speed")}, ensure_ascii=False, indent=1))
    if args.cost:
        print(json.dumps(cost(items), ensure_ascii=False))


if __name__ == "__main__":
    main()
