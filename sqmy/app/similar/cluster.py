"""Suggested merge groups (并案) within a set of items, and hotspots (热点问题) over a period.

Items are linked when one is among the other's nearest neighbours and the pair is a duplicate or scores as the
same matter (``index.score``: cosine plus place terms); groups are the connected components of those links. A
group's representative is its most central item (highest mean similarity to the others)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from scipy import sparse

from sqmy.app.similar.ann import usearch_index
from sqmy.app.similar.index import Thresholds, score
from sqmy.app.similar.places import place_overlap, places_of
from sqmy.app.similar.vectors import Projection, item_text, jaccard, signatures

NEIGHBOURS = 10


@dataclass
class Item:
    """One item to group: its id, text, and what the group report shows."""

    id: str
    text: str
    title: str = ""
    topic: str | None = None
    lead: str | None = None
    date: str | None = None


class _Union:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def _links(vectors: np.ndarray, tfidf: sparse.csr_matrix, sigs: np.ndarray, places: list[set[str]],
           thresholds: Thresholds) -> list[tuple[int, int, str, float]]:
    """``(i, j, kind, score)`` for each linked pair among every item's nearest neighbours."""
    n = len(vectors)
    if n < 2:
        return []
    index = usearch_index()(ndim=vectors.shape[1], metric="cos", dtype="f32")
    index.add(np.arange(n, dtype=np.uint64), vectors)
    found = index.search(vectors, min(NEIGHBOURS + 1, n))
    keys = np.asarray(found.keys).reshape(n, -1)
    links = []
    for i in range(n):
        for j in keys[i].tolist():
            if j <= i or j >= n:  # each pair once (and usearch pads missing neighbours with an invalid key)
                continue
            dup = float(jaccard(sigs[i], sigs[j][None, :])[0])
            cosine = (float(vectors[i] @ vectors[j]) + float(tfidf[i].multiply(tfidf[j]).sum())) / 2
            value = score(cosine, place_overlap(places[i], places[j]), thresholds)
            if dup >= thresholds.duplicate:
                links.append((i, int(j), "duplicate", dup))
            elif value >= thresholds.same_matter:
                links.append((i, int(j), "same_matter", value))
    return links


def cluster(items: Sequence[Item], projection: Projection, thresholds: Thresholds,
            min_size: int = 2) -> list[dict[str, Any]]:
    """Suggested merge groups of at least ``min_size`` items, largest first (``thresholds.same_matter`` is the
    link threshold here: ``SQMY_SIMILAR_CLUSTER_THRESHOLD``)."""
    texts = [item_text(i.title, i.text) for i in items]
    vectors, sigs = projection.transform(texts), signatures(texts)
    places = [places_of(f"{i.title} {i.text}") for i in items]
    union = _Union(len(items))
    links = _links(vectors, projection.tfidf(texts), sigs, places, thresholds)
    for i, j, _kind, _value in links:
        union.join(i, j)
    members: dict[int, list[int]] = {}
    for i in range(len(items)):
        members.setdefault(union.find(i), []).append(i)
    kinds: dict[int, Counter[str]] = {}
    for i, _j, kind, _value in links:
        kinds.setdefault(union.find(i), Counter())[kind] += 1
    groups = [_group(rows, items, vectors, places, kinds.get(root, Counter()))
              for root, rows in members.items() if len(rows) >= min_size]
    groups.sort(key=lambda g: (-g["size"], g["representative"]["id"]))
    for n, group in enumerate(groups, 1):
        group["group"] = n
    return groups


def _group(rows: list[int], items: Sequence[Item], vectors: np.ndarray, places: list[set[str]],
           kinds: Counter[str]) -> dict[str, Any]:
    """One suggested group: representative, members, shared places, topic, date span and the reason."""
    block = vectors[rows]
    central = rows[int(np.argmax((block @ block.T).mean(axis=1)))]
    shared = Counter(p for i in rows for p in places[i])
    common = [p.split("|")[0] for p, n in shared.most_common(3) if n >= max(2, len(rows) // 2)]
    dates = sorted(d for i in rows if (d := items[i].date))
    topics = Counter(t for i in rows if (t := items[i].topic))
    leads = Counter(t for i in rows if (t := items[i].lead))
    reason = "内容几乎相同（重复提交）" if kinds and set(kinds) == {"duplicate"} else "反映的是同一事项"
    if common:
        reason += f"，地点相同：{'、'.join(common)}"
    rep = items[central]
    return {"size": len(rows), "representative": {"id": rep.id, "title": rep.title, "snippet": rep.text[:120]},
            "members": [items[i].id for i in rows], "reason": reason, "places": common,
            "topic": topics.most_common(1)[0][0] if topics else None,
            "lead": leads.most_common(1)[0][0] if leads else None,
            "first_date": dates[0] if dates else None, "last_date": dates[-1] if dates else None,
            "duplicates": kinds.get("duplicate", 0)}


def hotspots(items: Sequence[Item], projection: Projection, thresholds: Thresholds, *, end: date | None = None,
             window_days: int = 7, limit: int = 20) -> list[dict[str, Any]]:
    """Hotspots: the suggested groups ranked by size, then by growth (items in the last ``window_days`` up to
    ``end`` against the window before)."""
    last = end or max((date.fromisoformat(i.date[:10]) for i in items if i.date), default=date.today())
    recent_from = last - timedelta(days=window_days - 1)
    previous_from = recent_from - timedelta(days=window_days)
    by_id = {i.id: i for i in items}
    out = []
    for group in cluster(items, projection, thresholds):
        days = [date.fromisoformat(d[:10]) for m in group["members"] if (d := by_id[m].date)]
        recent = sum(recent_from <= d <= last for d in days)
        previous = sum(previous_from <= d < recent_from for d in days)
        out.append(group | {"recent": recent, "previous": previous, "growth": recent - previous})
    out.sort(key=lambda g: (-g["size"], -g["growth"], g["representative"]["id"]))
    for n, group in enumerate(out, 1):
        group["rank"] = n
    return out[:limit]
