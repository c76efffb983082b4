"""Merge the writers' part files into corpora/opinions.jsonl (canonical field order, sorted by id).

Items already in opinions.jsonl whose id prefix has no part file here are kept as they are (earlier rounds' parts
are not kept in the repository), so a new round adds its parts to the corpus.

    python3 corpora/spec/merge.py
"""

import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE.parent
FIELDS = ["id", "genre", "title", "text", "topic", "topic_path", "lead", "assist"]

parts = sorted((CORPUS / "parts").glob("*.jsonl"))
prefixes = {part.stem for part in parts}
rows = []
target = CORPUS / "opinions.jsonl"
if target.is_file():
    for line in target.open(encoding="utf-8"):
        if line.strip():
            row = json.loads(line)
            if row["id"].rsplit("-", 1)[0] not in prefixes:
                rows.append(row)
for part in parts:
    for line in part.open(encoding="utf-8"):
        if line.strip():
            row = json.loads(line)
            row["topic"] = row["topic_path"][0]
            rows.append({k: row[k] for k in FIELDS})
rows.sort(key=lambda r: r["id"])
with target.open("w", encoding="utf-8") as handle:
    for row in rows:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
print(f"{len(rows)} items → {target}")
