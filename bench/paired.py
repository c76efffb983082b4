"""Is a difference between two runs of ``bench/generalisation.py`` more than chance? A paired bootstrap over the
items of each set (the same items resampled for both runs), of the level-1 macro-F1 and accuracy differences.

    .venv/bin/python bench/generalisation.py --answers /tmp/a.json ...   # run A (e.g. main)
    .venv/bin/python bench/generalisation.py --answers /tmp/b.json ...   # run B (the change)
    .venv/bin/python bench/paired.py /tmp/a.json /tmp/b.json [--rounds 2000]

Prints, per set and engine: B − A, its 95 % interval, and how many items each run alone gets right.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score


def macro_f1(truth: np.ndarray, pred: np.ndarray, labels: list[str]) -> float:
    return float(f1_score(truth, pred, labels=labels, average="macro", zero_division=0))


def compare(truth: list[str], a: list[str], b: list[str], rounds: int, seed: int = 0) -> dict[str, object]:
    """B − A on the items as given and over ``rounds`` paired resamples of them."""
    t, pa, pb = np.array(truth), np.array(a), np.array(b)
    labels = sorted(set(truth))
    rng = np.random.default_rng(seed)
    f1_diffs, acc_diffs = [], []
    for _ in range(rounds):
        i = rng.integers(0, len(t), len(t))
        f1_diffs.append(macro_f1(t[i], pb[i], labels) - macro_f1(t[i], pa[i], labels))
        acc_diffs.append(float((pb[i] == t[i]).mean() - (pa[i] == t[i]).mean()))
    return {
        "n": len(t),
        "macro_f1_diff": round(macro_f1(t, pb, labels) - macro_f1(t, pa, labels), 4),
        "macro_f1_95": [round(float(x), 4) for x in np.percentile(f1_diffs, [2.5, 97.5])],
        "accuracy_diff": round(float((pb == t).mean() - (pa == t).mean()), 4),
        "accuracy_95": [round(float(x), 4) for x in np.percentile(acc_diffs, [2.5, 97.5])],
        "right_in_a_only": int(((pa == t) & (pb != t)).sum()),
        "right_in_b_only": int(((pb == t) & (pa != t)).sum()),
        "answers_differ": int((pa != pb).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    a, b = json.loads(args.a.read_text()), json.loads(args.b.read_text())
    report = {}
    for name in a.keys() & b.keys():
        if a[name]["truth"] != b[name]["truth"]:
            raise SystemExit(f"{name}: the two runs read different items")
        for engine in (a[name].keys() & b[name].keys()) - {"truth"}:
            report[f"{name} {engine}"] = compare(a[name]["truth"], a[name][engine], b[name][engine], args.rounds)
    print(json.dumps(dict(sorted(report.items())), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
