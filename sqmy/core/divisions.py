"""China's administrative division codes (provinces, prefecture cities, counties, with former names) as shipped by
``python-stdnum`` (``stdnum/cn/loc.dat``, from the national code tables): read once, without stdnum's own
database loader (a tenth of a second) — the ID number check needs only the codes, the place gazetteer the names."""

from __future__ import annotations

import os
import re
from functools import lru_cache

_YEARS = re.compile(r"\[[0-9-]*\]")
_ENTRY = re.compile(r'^( *)(\d+) (?:province|county)="([^"]*)"', re.MULTILINE)


def _loc_path() -> str:
    import importlib.util

    spec = importlib.util.find_spec("stdnum")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("python-stdnum is not installed")
    return os.path.join(next(iter(spec.submodule_search_locations)), "cn", "loc.dat")


@lru_cache(maxsize=1)
def divisions() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Every division as ``(code, names)``: provinces (``XX0000``), prefecture cities (``XXYY00``) and counties;
    names current and former (the file has 7,000 lines: one regular expression over it)."""
    with open(_loc_path(), encoding="utf-8") as f:
        text = _YEARS.sub("", f.read())  # "[1983-2021]下城区": the years a name was in use
    out: list[tuple[str, tuple[str, ...]]] = []
    province = ""
    for indent, code, names in _ENTRY.findall(text):
        if indent:
            code = province + code
        else:
            province, code = code, code + "0000"
        out.append((code, tuple(names.split(","))))
    return tuple(out)


@lru_cache(maxsize=1)
def division_codes() -> frozenset[str]:
    return frozenset(code for code, _ in divisions())


_LEVEL_4 = re.compile(rb"\n\t\t\t([^\t\r\n]+)")  # the table's fourth level: towns, townships, subdistricts
_TOWN_TAILS = tuple(t.encode() for t in ("镇", "乡", "街道", "苏木"))


@lru_cache(maxsize=1)
def towns() -> frozenset[str]:
    """China's towns, townships and subdistricts (镇/乡/街道/苏木, about 31,000 names) from ``jionlp``'s location
    table (``jionlp/dictionary/china_location.zip``, read without importing jionlp: its import takes a second and
    loads a word segmenter). Empty when jionlp is not installed: places below county level then come from the
    suffix recogniser alone."""
    import importlib.util
    import zipfile

    spec = importlib.util.find_spec("jionlp")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    path = os.path.join(next(iter(spec.submodule_search_locations)), "dictionary", "china_location.zip")
    try:
        with zipfile.ZipFile(path) as archive:
            table = archive.read("china_location.txt")
    except (OSError, KeyError, zipfile.BadZipFile):
        return frozenset()
    names = (raw.decode("utf-8", "replace") for raw in _LEVEL_4.findall(table) if raw.endswith(_TOWN_TAILS))
    return frozenset(name for name in names if len(name) >= 3)  # one simple pass over bytes: 0.1 s
