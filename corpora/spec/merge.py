"""Merge the writers' part files into corpora/opinions.jsonl (canonical field order, sorted by id).

    python3 corpora/spec/merge.py
"""

import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE.parent
FIELDS = ["id", "genre", "title", "text", "topic", "topic_path", "lead", "assist"]

rows = []
for part in sorted((CORPUS / "parts").glob("*.jsonl")):
    for line in part.open(encoding="utf-8"):
        if line.strip():
            row = json.loads(line)
            row["topic"] = row["topic_path"][0]
            rows.append({k: row[k] for k in FIELDS})
rows.sort(key=lambda r: r["id"])
with (CORPUS / "opinions.jsonl").open("w", encoding="utf-8") as handle:
    for row in rows:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
print(f"{len(rows)} items → {CORPUS / 'opinions.jsonl'}")
