"""Build ``handwritten.jsonl`` from the hand-annotated ``handwritten_src/*.txt``.

The source files hold items written by hand (not generated from templates), with the facts marked inline so
the labels cannot drift from the text:

    @ 12345工单 | 城乡建设 | 标题
    正文……[[p:to:城关镇]]……[[t:138 0571 2468]]……

Markers (the marker is replaced by its text; see HANDWRITTEN.md for what is labelled and why):

- ``[[p:LEVEL:text]]`` a place; LEVEL one of pr ci co to st vi es ro ot
  (province city county town street village estate road other);
- ``[[t:text]]`` a phone number as written; ``[[n:text]]`` a person; ``[[pl:text]]`` a licence plate;
- ``[[id:17 digits]]`` an ID number: the check digit is computed and appended (GB 11643);
- ``[[idx:17 digits]]`` an ID number ending in X: the 17th digit is bumped until the check digit is X;
- ``[[bad:17 digits]]`` an 18-digit number with a WRONG check digit: written into the text, not labelled.

Items are numbered in file order; the split is fixed by that number (even → dev, odd → test), decided before
any extractor was run on the set. Run: ``python bench/facts/build_handwritten.py``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LEVELS = {
    "pr": "province", "ci": "city", "co": "county", "to": "town", "st": "street",
    "vi": "village", "es": "estate", "ro": "road", "ot": "other",
}
MARK = re.compile(r"\[\[(p:[a-z]{2}|t|n|pl|id|idx|bad):([^\]]+)\]\]")
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"


def check_digit(body: str) -> str:
    """GB 11643-1999 check character for 17 digits."""
    return CHECK[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


def id_with_x(body: str) -> str:
    """Adjust the 17th digit (sequence) so that the check character is X."""
    for d in "0123456789":
        cand = body[:16] + d
        if check_digit(cand) == "X":
            return cand + "X"
    for d in "0123456789":  # bump the 16th digit too when no 17th digit works
        for e in "0123456789":
            cand = body[:15] + d + e
            if check_digit(cand) == "X":
                return cand + "X"
    raise ValueError(body)


def wrong_id(body: str) -> str:
    good = check_digit(body)
    return body + ("1" if good != "1" else "2")


def occurrences_before(text: str, sub: str, pos: int) -> tuple[int, int]:
    """(1-based occurrence of ``sub`` starting at ``pos``, total occurrences), counting overlapping hits."""
    starts = [i for i in range(len(text)) if text.startswith(sub, i)]
    return starts.index(pos) + 1, len(starts)


def render(body: str) -> tuple[str, list[dict]]:
    out: list[str] = []
    facts: list[tuple[int, dict]] = []
    last = 0
    length = 0
    for m in MARK.finditer(body):
        out.append(body[last:m.start()])
        length += m.start() - last
        tag, val = m.group(1), m.group(2)
        fact: dict | None
        if tag.startswith("p:"):
            surface, fact = val, {"kind": "place", "level": LEVELS[tag[2:]]}
        elif tag == "t":
            surface, fact = val, {"kind": "phone"}
        elif tag == "n":
            surface, fact = val, {"kind": "person"}
        elif tag == "pl":
            surface, fact = val, {"kind": "plate"}
        elif tag in ("id", "idx", "bad"):
            if not re.fullmatch(r"\d{17}", val):
                raise ValueError(f"ID body must be 17 digits: {val}")
            surface = {"id": lambda b: b + check_digit(b), "idx": id_with_x, "bad": wrong_id}[tag](val)
            fact = {"kind": "id_number"} if tag != "bad" else None
        else:  # pragma: no cover
            raise ValueError(tag)
        if fact is not None:
            fact["text"] = surface
            facts.append((length, fact))
        out.append(surface)
        length += len(surface)
        last = m.end()
    out.append(body[last:])
    text = "".join(out)
    if "[[" in text or "]]" in text:
        raise ValueError(f"unparsed marker in: {body[:60]}")
    result = []
    for pos, fact in facts:
        n, total = occurrences_before(text, fact["text"], pos)
        if total > 1:
            fact["occurrence"] = n
        ordered = {"kind": fact["kind"], "text": fact["text"]}
        if "level" in fact:
            ordered["level"] = fact["level"]
        if "occurrence" in fact:
            ordered["occurrence"] = fact["occurrence"]
        result.append(ordered)
    return text, result


def parse(paths: list[Path]) -> list[dict]:
    """Items are ``@ genre | topic | title`` followed by body lines (joined by newlines) up to a blank line."""
    blocks: list[tuple[list[str], list[str]]] = []
    for path in paths:
        head: list[str] | None = None
        for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
            line = raw.strip()
            if line.startswith("#") and head is None:
                continue
            if line.startswith("@"):
                head = [p.strip() for p in line[1:].split("|")]
                if len(head) != 3:
                    raise ValueError(f"bad header: {line}")
                blocks.append((head, []))
            elif line:
                if head is None:
                    raise ValueError(f"body without header: {line[:40]}")
                blocks[-1][1].append(line)
            else:
                head = None
    items: list[dict] = []
    for n, (head, lines) in enumerate(blocks):
        if not lines:
            raise ValueError(f"empty body: {head}")
        text, facts = render("\n".join(lines))
        items.append({
            "id": f"hw-{n + 1:03d}", "split": "dev" if n % 2 == 0 else "test",
            "genre": head[0], "topic": head[1], "title": head[2], "text": text, "facts": facts,
        })
    return items


def main() -> int:
    paths = sorted((HERE / "handwritten_src").glob("*.txt"))
    items = parse(paths)
    with (HERE / "handwritten.jsonl").open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for item in items:
        for f in item["facts"]:
            key = f["kind"] + ("/" + f["level"] if "level" in f else "")
            kinds[key] = kinds.get(key, 0) + 1
    print(f"{len(items)} items, {sum(kinds.values())} facts")
    for key in sorted(kinds):
        print(f"  {key}: {kinds[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
