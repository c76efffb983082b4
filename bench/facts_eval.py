"""Precision and recall of the facts inside an item (issue #17) on a labelled set: the template-made synthetic set
bench/facts/items.jsonl (the default) or the hand-written one, bench/facts/handwritten.jsonl (``--set handwritten``).

A prediction counts when its kind, start and end equal a gold span's (exact match); places also report how many
matched spans have the right level, and recall per level. Extraction runs as the service runs it: the shipped
directory's towns, streets and city known as places.

    .venv/bin/python bench/facts_eval.py              # the table
    .venv/bin/python bench/facts_eval.py --errors 30  # and the first 30 misses and false alarms
    SQMY_HOME=var .venv/bin/python bench/facts_eval.py --cost   # and what facts add to routing one item (TF-IDF)

The hand-written set (written before the rules were read, see bench/facts/HANDWRITTEN.md) has a dev and a test
split; its report gives precision/recall/F1 per kind and per place level under exact-span and overlap matching.
Misses and false alarms are listed on dev only (tune on dev, report test):

    .venv/bin/python bench/facts_eval.py --set handwritten --split dev --errors 200
    .venv/bin/python bench/facts_eval.py --set handwritten --split test
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from sqmy.app.knowledge import DirectoryKnowledge
from sqmy.core.config import Settings
from sqmy.core.facts import FACT_KINDS, PLACE_LEVELS, extract_facts

SET = Path(__file__).parent / "facts" / "items.jsonl"
SETS = {"synthetic": SET, "handwritten": Path(__file__).parent / "facts" / "handwritten.jsonl"}


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


# --- the hand-written set: offsets from surface strings, exact and overlap matching, per kind and place level ----

Span = tuple[str, int, int, str | None]  # kind, start, end, level


def with_gold(item: dict) -> dict:
    """``item`` with ``gold`` spans: each fact's ``text`` at its ``occurrence`` (1-based, every occurrence counted,
    also inside longer words) in the body."""
    gold = []
    for fact in item["facts"]:
        text = item["text"]
        starts = [i for i in range(len(text)) if text.startswith(fact["text"], i)]
        start = starts[fact.get("occurrence", 1) - 1]
        gold.append({**fact, "start": start, "end": start + len(fact["text"])})
    return {**item, "gold": gold}


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


def _prf(hit_gold: int, gold: int, hit_pred: int, pred: int) -> dict[str, float]:
    p = hit_pred / pred if pred else 0.0
    r = hit_gold / gold if gold else 0.0
    return {"gold": gold, "predicted": pred, "precision": round(p, 3), "recall": round(r, 3),
            "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0}


def _score(pairs: list[tuple[list[Span], list[Span]]], keys: set[str], exact: bool, levels: bool) -> dict:
    """P/R/F1 over ``(gold, predicted)`` span lists of the kinds in ``keys`` (place levels when ``levels``)."""
    def same(a: Span, b: Span) -> bool:
        hit = a[:3] == b[:3] if exact else _overlaps(a, b)
        return hit and (not levels or a[3] == b[3])

    def mine(span: Span) -> bool:
        return (span[3] in keys) if levels else (span[0] in keys)

    counts = [0, 0, 0, 0]  # gold hit, gold, predicted hit, predicted
    for gold, guess in pairs:
        g = [s for s in gold if mine(s)]
        p = [s for s in guess if mine(s)]
        counts[0] += sum(any(same(x, y) for y in guess) for x in g)
        counts[1] += len(g)
        counts[2] += sum(any(same(y, x) for x in gold) for y in p)
        counts[3] += len(p)
    return _prf(*counts)


def _print_errors(items: list[dict], pairs: list[tuple[list[Span], list[Span]]], errors: int) -> None:
    shown = 0
    for item, (gold, guess) in zip(items, pairs, strict=True):
        for tag, mine, other in (("MISS ", gold, guess), ("FALSE", guess, gold)):
            for span in mine:
                if span[:3] in {o[:3] for o in other} or shown >= errors:
                    continue
                shown += 1
                near = next((o for o in other if _overlaps(span, o)), None)
                hint = f" (overlaps {item['text'][near[1]:near[2]]!r})" if near else ""
                level = f"/{span[3]}" if span[3] else ""
                print(f"{tag} {item['id']} {span[0] + level:15} {item['text'][span[1]:span[2]]!r:24}{hint} in "
                      f"{context(item['text'], span[:3])}")


def evaluate_spans(items: list[dict], errors: int = 0) -> dict[str, dict]:
    """Per kind and per place level, exact-span and overlap precision/recall/F1 (a gold span is found when a
    prediction of its kind matches it; a prediction is right when it matches a gold span of its kind; levels: the
    level must agree too)."""
    localities = DirectoryKnowledge.from_settings(Settings()).place_names
    extract_facts(items[0]["text"], localities=localities)  # loads the gazetteer and the libraries
    pairs: list[tuple[list[Span], list[Span]]] = []
    for item in items:
        gold = [(g["kind"], g["start"], g["end"], g.get("level")) for g in item["gold"]]
        guess = [(f.kind, f.start, f.end, f.level) for f in extract_facts(item["text"], localities=localities)]
        pairs.append((gold, guess))
    if errors:
        _print_errors(items, pairs, errors)
    levels = sorted({s[3] for gold, guess in pairs for s in gold + guess if s[3]}, key=PLACE_LEVELS.index)
    report: dict[str, dict] = {}
    for match in ("exact", "overlap"):
        exact = match == "exact"
        report[match] = {kind: _score(pairs, {kind}, exact, False) for kind in FACT_KINDS}
        report[match]["phone+id_number"] = _score(pairs, {"phone", "id_number"}, exact, False)
        report[f"{match} place levels"] = {lv: _score(pairs, {lv}, exact, True) for lv in levels}
    return report


def print_spans(report: dict[str, dict]) -> None:
    for match in ("exact", "overlap"):
        print(f"\n{match} span        {'gold':>5} {'pred':>5} {'P':>6} {'R':>6} {'F1':>6}")
        for name, rows in ((match, report[match]), ("place level", report[f"{match} place levels"])):
            for key, row in rows.items():
                label = key if name == match else f"  place/{key}"
                print(f"{label:19} {row['gold']:5} {row['predicted']:5} {row['precision']:6.3f} {row['recall']:6.3f} "
                      f"{row['f1']:6.3f}")


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
    parser.add_argument("--set", default="synthetic",
                        help="synthetic (bench/facts/items.jsonl, the default), handwritten, or a JSONL path")
    parser.add_argument("--split", choices=("dev", "test", "all"), default="all",
                        help="the hand-written set's split (misses are listed on dev only)")
    parser.add_argument("--errors", type=int, default=0, help="print this many misses and false alarms")
    parser.add_argument("--cost", action="store_true", help="time TF-IDF routing with and without facts")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    path = SETS.get(args.set, Path(args.set))
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if items and "gold" not in items[0]:
        items = [with_gold(item) for item in items if args.split == "all" or item.get("split") == args.split]
        if args.errors and args.split != "dev":
            parser.error("misses and false alarms are listed on --split dev only (the test split stays unseen)")
        report = evaluate_spans(items, args.errors)
        print(f"\n{len(items)} items, {path}, split {args.split}")
        print_spans(report)
    else:
        report = evaluate(items, args.errors)
        print(f"\n{len(items)} items, {path}")
        print(f"{'kind':10} {'gold':>5} {'pred':>5} {'P':>6} {'R':>6} {'F1':>6}")
        for kind in FACT_KINDS:
            row = report[kind]
            print(f"{kind:10} {row['gold']:5} {row['predicted']:5} {row['precision']:6.3f} {row['recall']:6.3f} "
                  f"{row['f1']:6.3f}")
        print(json.dumps({k: report[k] for k in ("place levels", "speed")}, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.cost:
        print(json.dumps(cost(items), ensure_ascii=False))


if __name__ == "__main__":
    main()
