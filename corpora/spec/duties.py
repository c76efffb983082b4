"""Write the duty table (权责清单) of the default directory from the corpus labels: for every level-3 leaf with at
least MIN_ITEMS items, the unit that leads at least SHARE of them is listed under that unit's ``leads``; leaves that
towns and streets lead at least SHARE of the time go to ``locality_leads``. Level-2 entries written by hand stay.

A site edits the result by hand (sqmy/data/departments.yaml or its own SQMY_DIRECTORY_PATH).

    .venv/bin/python corpora/spec/duties.py            # rewrites the leads lists in sqmy/data/departments.yaml
"""

import collections
import json
import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DIRECTORY = ROOT / "sqmy" / "data" / "departments.yaml"
MIN_ITEMS, SHARE = 6, 0.5

rows = [json.loads(line) for line in (ROOT / "corpora" / "opinions.jsonl").open(encoding="utf-8")]
data = yaml.safe_load(DIRECTORY.read_text(encoding="utf-8"))
localities = {u["name"] for u in data.get("localities") or []}
by_leaf: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
for row in rows:
    if len(row["topic_path"]) == 3 and row["topic_path"][2] != "其他":
        lead = "<locality>" if row["lead"] in localities else row["lead"]
        by_leaf["/".join(row["topic_path"])][lead] += 1
duties: dict[str, list[str]] = collections.defaultdict(list)
for leaf, counts in sorted(by_leaf.items()):
    total = sum(counts.values())
    unit, n = counts.most_common(1)[0]
    if total >= MIN_ITEMS and n / total >= SHARE:
        duties[unit].append(leaf)


def flow(key: str, values: list[str], indent: int = 4) -> str:
    """A YAML flow list wrapped at 116 characters, aligned under its opening bracket."""
    lines, line = [], f"{' ' * indent}{key}: ["
    pad = " " * len(line)
    for n, value in enumerate(values):
        piece = value + (", " if n < len(values) - 1 else "]")
        if len(line) + len(piece) > 116 and not line.endswith("["):
            lines.append(line.rstrip())
            line = pad
        line += piece
    if not values:
        line += "]"
    return "\n".join([*lines, line])


text = DIRECTORY.read_text(encoding="utf-8")
for unit in data["units"]:
    level2 = [t for t in unit.get("leads") or [] if t.count("/") == 1]
    block = re.compile(rf"(  - id: {re.escape(unit['id'])}\n(?:    .*\n)*?)    leads: \[[^\]]*\]\n")
    match = block.search(text)
    assert match, unit["id"]
    text = text[:match.start()] + match.group(1) + flow("leads", level2 + duties.get(unit["name"], [])) + "\n" \
        + text[match.end():]
text = re.sub(r"\nlocality_leads: \[[^\]]*\]\n", "\n", text)
text = text.rstrip("\n") + "\n" + flow("locality_leads", duties.get("<locality>", []), indent=0) + "\n"
DIRECTORY.write_text(text, encoding="utf-8")
listed = sum(len(v) for v in duties.values())
print(f"{listed} of {len(by_leaf)} level-3 leaves listed ({len(duties.get('<locality>', []))} for towns/streets)")
