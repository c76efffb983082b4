"""The similarity index: near-duplicates by MinHash LSH over character shingles (``lsh.BandLSH``), same-matter items
by an HNSW graph over the projected vectors (``usearch``), both over the items of ``ItemStore``.

Each process holds the graph and the LSH tables in memory and catches up with the store by key (items another
process added show up at its next query). Snapshots of the graph (``ann-<key>.usearch``) are saved now and then and
on close, so a restart loads the graph and adds only what came after; the LSH tables are rebuilt from the stored
signatures (format 2 also pickled them, ``lsh-<key>.pkl``: ignored when found, deleted at the next save)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from usearch.index import Index

from sqmy.app.similar import pairs
from sqmy.app.similar.ann import snapshot_path, snapshots, usearch_index, write_snapshot
from sqmy.app.similar.lsh import BandLSH
from sqmy.app.similar.meaning import CANDIDATES as MEANING_CANDIDATES
from sqmy.app.similar.meaning import MeaningEncoder, MeaningGraph, open_encoder
from sqmy.app.similar.places import item_places, place_overlap, places_of
from sqmy.app.similar.store import FORMAT, Entry, ItemStore
from sqmy.app.similar.vectors import NUM_PERM, Projection, item_text, jaccard, matter_text, signatures
from sqmy.core.locks import file_lock
from sqmy.core.text import join_title

log = logging.getLogger(__name__)
SAVE_EVERY = 20_000  # new items between snapshots
SYNC_SECONDS = 1.0  # a query looks for other processes' items at most this often
SNIPPET_CHARS = 120


@dataclass(frozen=True)
class Thresholds:
    """What counts as a duplicate and as the same matter (``SQMY_SIMILAR_*``)."""

    duplicate: float = 0.6  # estimated Jaccard similarity of character 3-shingles
    same_matter: float = 0.36  # pairwise: the same-matter probability (``pairs``); cosine: the score (``score``)
    place_weight: float = 0.0  # added when the two name the same 村/小区/路… (fine place)
    town_weight: float = 0.1  # taken off when both name a town or street and they differ
    background: float = 0.5  # times the query's background similarity (``background``), taken off every score
    fine_weight: float = 0.0  # taken off when both name a 村/小区/路… and share none
    model: Literal["pairwise", "cosine"] = "pairwise"  # how a query's answers are scored (merge groups: cosine)


@dataclass(frozen=True)
class _Query:
    """What a query's candidates are compared with: its matter text, its MinHash signature, its place keys."""

    matter: str
    signature: np.ndarray
    places: set[str]


BACKGROUND_RANKS = (10, 30)  # the candidates whose mean similarity is a query's background
BACKGROUND_PRIOR = 0.2  # the background assumed for ranks a small index does not fill (its median on bench/similar)


def background(similarities: Sequence[float]) -> float:
    """How similar a query is to items of other matters: the mean similarity of its candidates ranked 10th to 30th
    (a text in the words every report uses is close to everything; one with specific words is not), ranks that
    a small index does not fill counting as ``BACKGROUND_PRIOR``."""
    low, high = BACKGROUND_RANKS
    ranked = sorted(similarities, reverse=True)[low:high]
    return (sum(ranked) + BACKGROUND_PRIOR * (high - low - len(ranked))) / (high - low)


def score(cosine: float, places: tuple[float, float], thresholds: Thresholds) -> float:
    """The same-matter score: cosine similarity, up when the two share a 村/小区/路, down when they name different
    ones or are in different towns or streets (``place_overlap``: 1 shared, 0 different, 0.5 unknown)."""
    fine, town = places
    return (cosine + thresholds.place_weight * (fine == 1.0) - thresholds.fine_weight * (fine == 0.0)
            - thresholds.town_weight * (town == 0.0))


class SimilarIndex:
    """Add items, find the items similar to a text. Thread-safe; several processes may share one directory."""

    def __init__(self, directory: Path, projection: Projection, thresholds: Thresholds = Thresholds(),
                 encoder: MeaningEncoder | None = None) -> None:
        self.directory, self.projection, self.thresholds = directory, projection, thresholds
        self.encoder = encoder  # embeddings by meaning for reranking (``meaning.py``); None: round 4's scores
        self.meaning_candidates = MEANING_CANDIDATES  # nearest items by meaning added to a query's candidates
        self._meaning_graph = MeaningGraph(directory) if encoder is not None else None
        self._encoding: ThreadPoolExecutor | None = None  # the thread that encodes queries by meaning (lazily)
        directory.mkdir(parents=True, exist_ok=True)
        self.store = ItemStore(directory / "items.db")
        self._lock = threading.RLock()
        self._ann = new_graph(projection.dim)
        self._lsh = new_lsh(thresholds.duplicate)
        self.watermark = 0
        self._removed_seq = 0  # the last row of the store's ``removed`` table applied to the graph and the LSH
        self._saved = 0
        self._synced_at = 0.0
        if self.store.format != FORMAT:
            self._rederive()
        self._load_snapshot()
        if self._meaning_graph is not None:
            self._meaning_graph.load()
        self.sync()

    def _rederive(self) -> None:
        """Recompute every stored item's vector, signature and places (a file of an older format), once, under the
        snapshot lock; the old snapshots go."""
        with self._file_lock():
            if self.store.format == FORMAT:
                return
            started, count = time.perf_counter(), 0
            for old in self.directory.glob("*-*.*"):
                if old.name.startswith(("ann-", "lsh-")):
                    old.unlink()
            for rows in self.store.texts_since(0):
                texts = [item_text(title, text) for _key, title, text in rows]
                norms = [matter_text(t) for t in texts]
                places = [" ".join(sorted(item_places(title, text))) for _key, title, text in rows]
                self.store.rederive([r[0] for r in rows], places, self.projection.transform(norms, prepared=True),
                                    signatures(texts), norms)
                count += len(rows)
            self.store.format = FORMAT
            log.info("similarity index: %d items re-derived in %.1f s", count, time.perf_counter() - started)

    # -- snapshots ------------------------------------------------------------------------------------------
    def _file_lock(self) -> Any:
        return file_lock(self.directory / "snapshot.lock")

    def _load_snapshot(self) -> None:
        """The newest graph snapshot, and the LSH tables of the items it holds (from the stored signatures)."""
        with self._file_lock():
            found = snapshots(self.directory, "ann")
            if not found:
                return
            key = found[-1]
            try:
                self._ann.load(str(snapshot_path(self.directory, "ann", key)))
            except Exception:  # a damaged snapshot: rebuild from the store
                log.exception("similarity snapshot %d unreadable; rebuilding from the store", key)
                self._ann.reset()  # type: ignore[no-untyped-call]  # usearch has no annotation here
                return
            for keys, sigs in self.store.signatures_until(key):
                self._lsh.insert(keys, sigs)
            self.watermark = self._saved = key

    def save(self) -> None:
        """Write a snapshot of what this process holds (unless a newer one exists) and drop older ones."""
        with self._lock, self._file_lock():
            existing = snapshots(self.directory, "ann")
            if self.watermark == 0 or (existing and existing[-1] >= self.watermark):
                return
            key = self.watermark
            write_snapshot(self._ann, self.directory, "ann", key, existing)
            for pickled in self.directory.glob("lsh-*.pkl"):  # format 2's LSH snapshots: rebuilt, not read
                pickled.unlink(missing_ok=True)
            self._saved = key

    # -- adding ---------------------------------------------------------------------------------------------
    def add(self, entries: Sequence[Entry]) -> int:
        """Store and index ``entries`` (the same id again only updates its labels); how many were given."""
        count = store_entries(self.store, self.projection, entries)
        if count:
            self.sync(force=True)
        return count

    def sync(self, *, force: bool = True) -> int:
        """Take in the items stored (by any process) since the last call; how many."""
        if not force and time.monotonic() - self._synced_at < SYNC_SECONDS:
            return 0
        added = 0
        with self._lock:
            for keys, vectors, sigs in self.store.since(self.watermark):
                self._ann.add(keys, vectors, threads=1)
                self._lsh.insert(keys, sigs)
                self.watermark = int(keys[-1])
                added += len(keys)
            self._apply_removals()
            if self._meaning_graph is not None:
                self._meaning_graph.sync(self.store)
            self._synced_at = time.monotonic()
            if self.watermark - self._saved >= SAVE_EVERY:
                self.save()
        return added

    def _apply_removals(self) -> None:
        """Take out of the graph and the LSH the items deleted from the store since the last call (retention)."""
        self._removed_seq, keys = self.store.removed_since(self._removed_seq)
        if not keys:
            return
        present = np.asarray(keys, dtype=np.uint64)
        present = present[np.asarray(self._ann.contains(present), dtype=bool).reshape(-1)]
        if len(present):
            self._ann.remove(present)
        for key in keys:
            self._lsh.remove(key)

    def remove(self, ids: Sequence[str]) -> int:
        """Delete these items from the store, the graph and the LSH; how many were indexed."""
        removed = self.store.remove(ids)
        with self._lock:
            self._apply_removals()
            if self._meaning_graph is not None:
                self._meaning_graph.sync(self.store)
        return removed

    def set_labels(self, item_id: str, *, topic: str | None = None, lead: str | None = None,
                   verdict: str | None = None) -> bool:
        return self.store.set_labels(item_id, topic=topic, lead=lead, verdict=verdict)

    def __len__(self) -> int:
        return len(self._ann)

    def memory_bytes(self) -> int:
        """The graph's memory (the LSH tables are Python dictionaries, measured in docs/BENCHMARKS.md)."""
        return int(self._ann.memory_usage)

    def close(self) -> None:
        if self._encoding is not None:
            self._encoding.shutdown()
        self.save()
        if self._meaning_graph is not None:
            self._meaning_graph.sync(self.store)
            self._meaning_graph.save()
        self.store.close()

    # -- searching ------------------------------------------------------------------------------------------
    def similar(self, text: str, title: str = "", *, k: int = 5, exclude: str | None = None,
                candidates: int = 50, everything: bool = False) -> list[dict[str, Any]]:
        """The items most similar to ``(title, text)``, best first: duplicates, then same-matter items above the
        threshold (``everything``: every candidate, scored, for evaluation). ``exclude``: an id left out."""
        keys, rows, found = self.candidates(text, title, exclude=exclude, candidates=candidates)
        if self.thresholds.model == "pairwise":
            values = pairs.probability(pairs.features(found, background(list((found.dense + found.sparse) / 2))),
                                       kind=self.encoder.kind if self.encoder is not None else "")
        else:
            mixed = (found.dense + found.sparse) / 2
            mixed = mixed - self.thresholds.background * background(list(mixed))
            values = np.array([score(float(v), p, self.thresholds) for v, p in zip(mixed, found.places, strict=True)])
        return self._rank([rows[key] for key in keys], values, found.jaccard, k, everything)

    def candidates(self, text: str, title: str = "", *, exclude: str | None = None,
                   candidates: int = 50) -> tuple[list[int], dict[int, dict[str, Any]], pairs.Candidates]:
        """The query's candidates (the graph's ``candidates`` nearest, the LSH hits and, with an encoder, the
        ``meaning_candidates`` nearest by meaning; ``exclude`` left out): their keys, stored rows and what is
        known of each (``pairs.Candidates``). The query's encoding by meaning runs on another thread meanwhile
        (ONNX Runtime lets go of the GIL): the candidates by characters are read and compared while it runs."""
        self.sync(force=False)
        normal = item_text(title, text)
        pending = self._query_meaning(text, title, exclude)
        vector = self.projection.transform([normal])[0]
        signature = signatures([normal])[0]
        with self._lock:
            found = self._ann.search(vector, min(candidates, max(len(self._ann), 1))) if len(self._ann) else None
            near = set(self._lsh.query(signature))
        cosines: dict[int, float] = {}
        if found is not None:
            cosines = {int(key): 1.0 - float(d) for key, d in zip(found.keys, found.distances, strict=True)}
        rows: dict[int, dict[str, Any]] = {}
        query = _Query(matter_text(normal), signature, places_of(f"{title} {text}"))
        keys = self._read(rows, cosines, list(cosines), near, vector, exclude)
        known = self._describe(query, keys, rows)
        query_meaning = pending.result() if isinstance(pending, Future) else pending
        if query_meaning is not None and self._meaning_graph is not None:
            with self._lock:
                by_meaning = set(self._meaning_graph.search(query_meaning, self.meaning_candidates + 1))
            more = self._read(rows, cosines, [], by_meaning, vector, exclude)
            keys += more
            known = {name: np.concatenate([known[name], part])
                     for name, part in self._describe(query, more, rows).items()}
        return keys, rows, pairs.Candidates(
            meaning=self._meaning(query_meaning, keys), dense=np.array([cosines[k] for k in keys], dtype=np.float64),
            sparse=known["sparse"], jaccard=known["jaccard"], places=[tuple(p) for p in known["places"]],
            query_len=len(query.matter), candidate_len=known["length"])

    def _read(self, rows: dict[int, dict[str, Any]], cosines: dict[int, float], hits: list[int], near: set[int],
              vector: np.ndarray, exclude: str | None) -> list[int]:
        """Read into ``rows`` the graph's ``hits`` (their cosines known) and the keys of ``near`` whose cosine is
        not, adding it to ``cosines`` (with the query's ``vector``); the keys found, in that order, without
        ``exclude``."""
        wanted = list(hits)
        missing = [key for key in near if key not in cosines]
        rows.update(self.store.rows(wanted + missing, vectors=bool(missing), norm=True))
        for key in missing:
            if key in rows:
                cosines[key] = float(rows[key]["vec"] @ vector)
        return [key for key in wanted + missing if key in rows and rows[key]["id"] != exclude]

    def _describe(self, query: _Query, keys: list[int], rows: dict[int, dict[str, Any]]) -> dict[str, np.ndarray]:
        """What is compared with the query for each of ``keys``: the sparse TF-IDF cosine of their matter texts
        (the dense cosine finds re-worded reports, the sparse one keeps the specific words that tell matters
        apart), the estimated Jaccard of their shingles, their place overlap and their matter text's length."""
        norms = [rows[k]["norm"] if rows[k]["norm"] is not None  # NULL: a format-2 row
                 else matter_text(item_text(rows[k]["title"], rows[k]["text"])) for k in keys]
        return {
            "sparse": self.projection.cosines(query.matter, norms),
            "jaccard": (jaccard(query.signature, np.vstack([rows[k]["sig"] for k in keys])) if keys
                        else np.zeros(0)).astype(np.float64),
            "places": np.array([place_overlap(query.places, set(rows[k]["places"].split())) for k in keys],
                               dtype=np.float64).reshape(-1, 2),
            "length": np.array([len(n) for n in norms], dtype=np.float64)}

    def _query_meaning(self, text: str, title: str, exclude: str | None) -> Future[np.ndarray] | np.ndarray | None:
        """The query's embedding by meaning: a query by id reuses its stored one; None without an encoder or while
        no item has one (the query is then not encoded); otherwise its encoding, started on the encoder's thread."""
        if self.encoder is None or self._meaning_graph is None or not len(self._meaning_graph):
            return None
        own = self.store.key_of(exclude) if exclude is not None else None
        stored = self.store.meaning_of([own]) if own is not None else {}
        if own in stored:
            return stored[own]
        with self._lock:
            if self._encoding is None:
                self._encoding = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqmy-query-meaning")
        return self._encoding.submit(self.encoder.embed_query, join_title(title, text))

    def _meaning(self, query: np.ndarray | None, keys: list[int]) -> np.ndarray | None:
        """Cosines by meaning of the query with each candidate (NaN where a candidate has no embedding yet); None
        without the query's embedding or when no candidate has one."""
        if query is None or not keys:
            return None
        stored = self.store.meaning_of(keys)
        if not stored:
            return None
        return np.array([float(stored[k] @ query) if k in stored else np.nan for k in keys], dtype=np.float64)

    def _rank(self, rows: list[dict[str, Any]], values: np.ndarray, dups: np.ndarray, k: int,
              everything: bool) -> list[dict[str, Any]]:
        """Duplicates first, then same-matter answers by score (``everything``: all of them, with ``kind`` None
        below the thresholds)."""
        out = []
        for row, value, dup in zip(rows, values.tolist(), dups.tolist(), strict=True):
            kind: Literal["duplicate", "same_matter"] | None = (
                "duplicate" if dup >= self.thresholds.duplicate
                else "same_matter" if value >= self.thresholds.same_matter else None)
            if kind is None and not everything:
                continue
            out.append(result_view(row, kind, max(value, dup) if kind == "duplicate" else value, dup))
        out.sort(key=lambda r: (r["kind"] != "duplicate", -r["score"]))
        return out if everything else out[:k]


def store_entries(store: ItemStore, projection: Projection, entries: Sequence[Entry]) -> int:
    """Derive the places, vectors, signatures and matter texts of ``entries`` (those with a text) and write them to
    ``store``, without taking them into any graph (a process that only feeds the store: ``sqmy.app.similar.feed``);
    how many were written."""
    entries = [e for e in entries if e.text and e.text.strip()]
    if not entries:
        return 0
    texts = [item_text(e.title, e.text) for e in entries]
    norms = [matter_text(t) for t in texts]
    places = [" ".join(sorted(item_places(e.title, e.text, e.extra.get("facts")))) for e in entries]
    store.add(entries, places, projection.transform(norms, prepared=True), signatures(texts), norms)
    return len(entries)


def new_lsh(threshold: float) -> BandLSH:
    """An empty MinHash LSH (the banding of ``datasketch``'s ``MinHashLSH`` for ``threshold``)."""
    return BandLSH(threshold, NUM_PERM)


def new_graph(dim: int) -> Index:
    """The HNSW graph: cosine over int8-quantised vectors, 16 links per node; built with a candidate list of 32
    and searched with 128 (docs/BENCHMARKS.md: a third of the f16/64 insert cost; 99.2 % of the exact top 10
    among the 50 found, against 99.8 %)."""
    return usearch_index()(ndim=dim, metric="cos", dtype="i8", connectivity=16, expansion_add=32, expansion_search=128)


def result_view(row: dict[str, Any], kind: str | None, value: float, dup: float) -> dict[str, Any]:
    """One answer of ``/v1/similar``."""
    text = row["text"]
    return {"id": row["id"], "score": round(value, 4), "kind": kind, "jaccard": round(dup, 4),
            "title": row["title"], "snippet": text[:SNIPPET_CHARS] + ("…" if len(text) > SNIPPET_CHARS else ""),
            "topic": row["topic"], "lead": row["lead"], "date": row["date"], "verdict": row["verdict"],
            "source": row["source"], "places": [p.split("|")[0] for p in row["places"].split()]}


def open_index(directory: Path, fit_texts: Callable[[], Sequence[str]], *, dim: int = 256,
               thresholds: Thresholds = Thresholds(), meaning: bool = True) -> SimilarIndex:
    """The index in ``directory``; its projection is fitted on ``fit_texts()`` (normalised item texts) the first
    time, under a lock so that two processes starting together fit it once. ``meaning``: rerank with the encoder
    installed beside the index, when there is one."""
    projection_dir = directory / "projection"
    projection = Projection.load(projection_dir)
    if projection is None:
        directory.mkdir(parents=True, exist_ok=True)
        with file_lock(directory / "projection.lock"):
            projection = Projection.load(projection_dir)
            if projection is None:
                started = time.perf_counter()
                projection = Projection.fit(fit_texts(), dim=dim)
                projection.save(projection_dir)
                log.info("similarity projection fitted in %.1f s", time.perf_counter() - started)
    return SimilarIndex(directory, projection, thresholds, open_encoder(directory) if meaning else None)
