"""China's administrative division codes (provinces, prefecture cities, counties, with former names) as shipped by
``python-stdnum`` (``stdnum/cn/loc.dat``, from the national code tables): read once, without stdnum's own
database loader (a tenth of a second) — the ID number check needs only the codes, the place gazetteer the names."""

from __future__ import annotations

import os
import re
from functools import lru_cache

_YEARS = re.compile(r"^\[[^\]]*\]")  # "[1983-2021]下城区": the years a name was in use


def _loc_path() -> str:
    import importlib.util

    spec = importlib.util.find_spec("stdnum")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("python-stdnum is not installed")
    return os.path.join(next(iter(spec.submodule_search_locations)), "cn", "loc.dat")


@lru_cache(maxsize=1)
def divisions() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Every division as ``(code, names)``: provinces (``XX0000``), prefecture cities (``XXYY00``) and counties;
    names current and former. Plain string work: the file has 7,000 lines."""
    out: list[tuple[str, tuple[str, ...]]] = []
    province = ""
    with open(_loc_path(), encoding="utf-8") as f:
        text = f.read()
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        code, _, value = line.strip().partition(" ")
        names = tuple(_YEARS.sub("", v) if v.startswith("[") else v
                      for v in value.partition('="')[2].rstrip('"').split(","))
        if line[0] != " ":
            province = code
            code += "0000"
        else:
            code = province + code
        out.append((code, names))
    return tuple(out)


@lru_cache(maxsize=1)
def division_codes() -> frozenset[str]:
    return frozenset(code for code, _ in divisions())
