"""Print the corpus statistics used in corpora/README.md (markdown).

    .venv/bin/python corpora/spec/stats.py
"""

import collections
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from dedup import length_stats, near_duplicates

rows = [json.loads(line) for line in (pathlib.Path(__file__).resolve().parents[1] / "opinions.jsonl").open(encoding="utf-8")]
n = len(rows)
print(f"items: {n}\n")
print("| genre | items | share | median length |\n|---|---|---|---|")
for genre, count in collections.Counter(r["genre"] for r in rows).most_common():
    stats = length_stats([r["text"] for r in rows if r["genre"] == genre])
    print(f"| {genre} | {count} | {count / n:.1%} | {stats['median']:.0f} |")
print("\nlength (characters of text):", length_stats([r["text"] for r in rows]))
print("\n| level-1 topic | items | share | level-2 topics covered |\n|---|---|---|---|")
l2 = collections.defaultdict(set)
for r in rows:
    l2[r["topic"]].add(r["topic_path"][1])
for topic, count in collections.Counter(r["topic"] for r in rows).most_common():
    print(f"| {topic} | {count} | {count / n:.1%} | {len(l2[topic])} |")
print(f"\nlevel-2 paths covered: {len({tuple(r['topic_path'][:2]) for r in rows})}")
level3 = [r for r in rows if len(r["topic_path"]) == 3]
print(f"items labelled at level 3: {len(level3)}, level-3 leaves covered: "
      f"{len({tuple(r['topic_path']) for r in level3})}")
print("\n| lead unit | items |\n|---|---|")
for unit, count in collections.Counter(r["lead"] for r in rows).most_common():
    print(f"| {unit} | {count} |")
assists = collections.Counter(len(r["assist"]) for r in rows)
print("\nassisting units per item:", dict(sorted(assists.items())))
pairs = near_duplicates([r["text"] for r in rows], threshold=0.8)
print("near-duplicate pairs (5-char shingle Jaccard >= 0.8):", len(pairs))
