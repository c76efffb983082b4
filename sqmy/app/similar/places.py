"""Place keys of an item (镇/街道/村/社区/小区/路…), for "same place" in similarity scores.

The places are those of the facts extractor (``sqmy.core.facts.extract_facts``: gazetteer and the site's
localities, and the suffix recogniser on jieba words); a key is the place's name and its level, ``锦江花园|estate``,
``城东街道|town`` (towns and streets share the level ``town``: the unit that handles an item). Only the places
that tell matters apart are kept: towns and streets, and below them villages, estates and roads (provinces, cities
and counties are the same for most items of one site). When an item already carries the facts the classifier
extracted (``facts`` of a ``/v1/classify`` answer or a ``sqmy batch`` output row), they are reused."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqmy.core.facts import Fact, extract_facts

TOWN_LEVEL = "town"
_TOWN_LEVELS = frozenset({"town", "street"})
_FINE_LEVELS = frozenset({"village", "estate", "road"})
_GENERIC_TAILS = ("小区", "社区")  # 锦江花园小区 is 锦江花园, 城南社区 is 城南


def place_key(name: str, level: str | None) -> str | None:
    """The key of a place of ``level`` (``None`` for the levels that do not tell matters apart)."""
    if level in _TOWN_LEVELS:
        return f"{name}|{TOWN_LEVEL}"
    if level not in _FINE_LEVELS:
        return None
    for tail in _GENERIC_TAILS:
        if name.endswith(tail) and len(name) - len(tail) >= 2:
            name = name[:-len(tail)]
            break
    return f"{name}|{level}"


def places_from_facts(facts: Iterable[Fact | Mapping[str, Any]]) -> set[str]:
    """The place keys among extracted facts (``Fact`` objects or their dictionaries)."""
    out = set()
    for fact in facts:
        kind, text, level = ((fact.kind, fact.text, fact.level) if isinstance(fact, Fact)
                             else (fact.get("kind"), fact.get("text"), fact.get("level")))
        key = place_key(str(text), level) if kind == "place" and text else None
        if key is not None:
            out.add(key)
    return out


def places_of(text: str) -> set[str]:
    """The place keys of ``text`` (``{"锦江花园|estate", "城东街道|town"}``)."""
    return places_from_facts(extract_facts(text, kinds=("place",)))


def item_places(title: str, text: str, facts: Iterable[Mapping[str, Any]] | None = None) -> set[str]:
    """The place keys of an item; ``facts``: those already extracted from its body (the title is read here)."""
    if facts is None:
        return places_of(f"{title} {text}")
    return places_from_facts(facts) | (places_of(title) if title else set())


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
