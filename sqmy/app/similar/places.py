"""Place tokens of an item (镇/街道/村/小区/路…), for "same place" in similarity scores.

A small suffix-based recogniser behind one seam, ``places_of``: a place is the two characters before a place
suffix (``锦江花园`` → ``锦江|estate``, ``溪口镇`` → ``溪口|town``). Two reports of one matter name the same estate or
road in different sentences, so matching keys (not full names) is enough here; the facts extractor of issue #17
can replace this function without changing its callers."""

from __future__ import annotations

import re
from dataclasses import dataclass

# suffix → level, longest suffixes first so that 街道 wins over 街 and 新村 over 村
_LEVELS: dict[str, str] = {
    "街道": "town", "镇": "town", "乡": "town",
    "社区": "estate", "小区": "estate", "花园": "estate", "新村": "estate", "公寓": "estate", "苑": "estate",
    "村": "village",
    "大道": "road", "路": "road", "街": "road", "巷": "road", "弄": "road",
    "公园": "other", "广场": "other", "市场": "other", "小学": "other", "中学": "other", "幼儿园": "other",
    "医院": "other", "卫生院": "other", "敬老院": "other", "站": "other", "桥": "other", "溪": "other",
}
_SUFFIXES = sorted(_LEVELS, key=len, reverse=True)
_STOP = set("的了在是我们你他她它这那从到和与及对把被给向往于等个一有没不很都也就还又再才说要请让去来看")
_PATTERN = re.compile("|".join(map(re.escape, _SUFFIXES)))
_CJK = re.compile(r"[\u4e00-\u9fff]")
TOWN_LEVEL = "town"


@dataclass(frozen=True)
class Place:
    """One recognised place: the name key, its level and where the suffix ends in the text."""

    key: str
    level: str
    end: int


def places_in(text: str) -> list[Place]:
    """Every place the suffix recogniser finds in ``text``, in text order."""
    found: list[Place] = []
    last_end = -1
    for match in _PATTERN.finditer(text):
        start = match.start()
        name = ""
        i = start - 1
        while i >= 0 and len(name) < 2 and _CJK.match(text[i]) and text[i] not in _STOP and i >= last_end:
            name = text[i] + name
            i -= 1
        level = _LEVELS[match.group()]
        if len(name) == 2 or (name and level != "other"):  # a landmark needs a two-character name
            found.append(Place(f"{name}|{level}", level, match.end()))
            last_end = match.end()
    return found


def places_of(text: str) -> set[str]:
    """The place keys of ``text`` (``{"锦江|estate", "城东|town"}``)."""
    return {p.key for p in places_in(text)}


def place_overlap(a: set[str], b: set[str]) -> tuple[float, float]:
    """``(fine, town)``: 1.0 when the two items share a place below / at town level, 0.0 when both name places of
    that kind and share none, 0.5 when either names none (unknown)."""
    def level(keys: set[str], town: bool) -> set[str]:
        return {k for k in keys if k.endswith("|" + TOWN_LEVEL) == town}

    out = []
    for town in (False, True):
        x, y = level(a, town), level(b, town)
        out.append(0.5 if not x or not y else 1.0 if x & y else 0.0)
    return out[0], out[1]
