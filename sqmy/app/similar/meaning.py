"""Embeddings by meaning (the e5 encoder's mean-pooled output) for reranking a query's candidates.

Too slow to compute when an item is added (≈ 28 items/s on one core against ≥ 1,000 items/s of indexing), so
the indexer process computes them afterwards at its own pace (``embed_pending``: newest items first) and stores
them beside the index (``ItemStore.put_meaning``); a query encodes its own text (one text, ≈ 13 ms of CPU)
and the pairwise model uses the rank and the relative similarity of each candidate by meaning where the candidate
has its embedding (``pairs``; docs/BENCHMARKS.md, similar items, round 5). An HNSW graph over the stored
embeddings (``MeaningGraph``, kept by the indexer and by each server) adds a query's nearest items by meaning to
its candidates by characters (round 6). The encoder is the int8 graph of an
encoder's pooled output, installed under ``SQMY_HOME/similar/encoder`` by ``sqmy index --encoder DIR``; without
it nothing here runs and the scores are those of round 4."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sqmy.app.similar.ann import snapshot_path, snapshots, usearch_index, write_snapshot
from sqmy.app.similar.store import ItemStore
from sqmy.core.locks import file_lock

if TYPE_CHECKING:
    from usearch.index import Index

log = logging.getLogger(__name__)
GRAPH = "model.int8.onnx"
INFO = "meaning.json"
MAX_TOKENS = 128  # the student encoder's budget; longer texts are cut (the title and the start carry the matter)
BATCH = 32  # texts per pass of the graph
STEP = 16  # texts the indexer embeds between two looks at the classification log (≈ 0.5 s of one core)
QUERY_TOKENS = 64  # a query's budget: as good as 128 on the dev half (docs/BENCHMARKS.md, round 6), half the cost
QUERY_CACHE = 256  # query texts whose embeddings are kept
CANDIDATES = 20  # a query's nearest items by meaning, added to its candidates by characters
SAVE_EVERY = 5_000  # embeddings between two snapshots of the graph by meaning written by the indexer
SAVE_SECONDS = 600.0  # …or this long after the first embedding not in a snapshot


class MeaningEncoder:
    """Mean-pooled, L2-normalised embeddings from an installed pooled int8 graph (one thread unless told: the
    indexer and the queries must not take both cores; a benchmark may)."""

    def __init__(self, directory: Path, *, query_tokens: int = QUERY_TOKENS, threads: int = 1) -> None:
        from sqmy.models.bert_layers import FastTokenizer
        from sqmy.models.bert_onnx import OnnxRunner

        info = json.loads((directory / INFO).read_text(encoding="utf-8"))
        self.prefix: str = info.get("prefix", "")
        self.name: str = info.get("name", directory.name)
        self.kind: str = info.get("kind", "")  # "matter": adapted to tell matters apart (its own pairwise model)
        self.query_tokens = query_tokens
        self.tokenizer = FastTokenizer(directory)
        self.runner = OnnxRunner(directory / GRAPH, threads=threads)
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()  # the last queries' embeddings

    def embed(self, texts: Sequence[str], *, max_tokens: int = MAX_TOKENS) -> np.ndarray:
        """One ``float32`` unit row per text (``texts``: titles and bodies joined), cut to ``max_tokens``."""
        from sqmy.models.bert_onnx import pooled_embeddings

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        ids = self.tokenizer([self.prefix + t for t in texts], max_length=max_tokens)["input_ids"]
        with self._lock:
            out = pooled_embeddings(self.runner, ids, self.tokenizer.pad_token_id, batch_size=BATCH)
        return np.asarray(out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """The embedding of one query's text (cut to ``query_tokens``), kept for the next ``QUERY_CACHE`` queries:
        the classify page asks for the same text's similar items again after a verdict or a merge."""
        with self._lock:
            cached = self._queries.get(text)
            if cached is not None:
                self._queries.move_to_end(text)
                return cached
        vector: np.ndarray = np.asarray(self.embed([text], max_tokens=self.query_tokens)[0])
        with self._lock:
            self._queries[text] = vector
            while len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
        return vector


class MeaningGraph:
    """An HNSW graph (usearch) over the stored embeddings by meaning, to find a query's candidates by meaning as well
    as by characters. Each process holding one catches up with the store's ``meaning_log`` (embeddings written by
    the indexer) and its ``removed`` table; snapshots ``meaning-<seq>.usearch`` under the index directory (saved by
    the indexer as it embeds, and by a server when it closes) spare a restart the whole log."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.seq = 0  # the last ``meaning_log`` row taken in
        self._removed_seq = 0
        self._saved, self._saved_at = 0, time.monotonic()
        self._graph: Index | None = None
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return 0 if self._graph is None else len(self._graph)

    def load(self) -> None:
        """The newest snapshot, if any (an unreadable one is ignored: the log is read from the start)."""
        with self._lock, file_lock(self.directory / "meaning.lock"):
            found = snapshots(self.directory, "meaning")
            if not found:
                return
            try:
                graph = usearch_index().restore(str(snapshot_path(self.directory, "meaning", found[-1])))
            except Exception:
                log.exception("meaning snapshot %d unreadable; reading the embeddings again", found[-1])
                return
            if graph is not None:
                self._graph, self.seq, self._saved = graph, found[-1], found[-1]

    def sync(self, store: ItemStore) -> int:
        """Take in the embeddings stored since the last call and take out the removed items; how many came."""
        added = 0
        with self._lock:
            for seq, keys, vectors in store.meaning_since(self.seq):
                if vectors is None:  # every embedding dropped (another encoder)
                    self._graph = None
                elif keys:
                    self._add(np.asarray(keys, dtype=np.uint64), vectors)
                    added += len(keys)
                self.seq = seq
            self._removed_seq, removed = store.removed_since(self._removed_seq)
            if removed and self._graph is not None:
                self._remove(np.asarray(removed, dtype=np.uint64))
        return added

    def _add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        keys, last = np.unique(keys[::-1], return_index=True)  # a key stored twice: its latest embedding
        vectors = vectors[::-1][last]
        if self._graph is None:
            self._graph = new_meaning_graph(vectors.shape[1])
        self._remove(keys)
        self._graph.add(keys, vectors, threads=1)

    def _remove(self, keys: np.ndarray) -> None:
        assert self._graph is not None
        present = keys[np.asarray(self._graph.contains(keys), dtype=bool).reshape(-1)]
        if len(present):
            self._graph.remove(present)

    def search(self, vector: np.ndarray, count: int) -> dict[int, float]:
        """The ``count`` nearest items by meaning: key → cosine (int8 estimate)."""
        with self._lock:
            if self._graph is None or not len(self._graph):
                return {}
            found = self._graph.search(vector, min(count, len(self._graph)))
        return {int(k): 1.0 - float(d) for k, d in zip(found.keys, found.distances, strict=True)}

    def save(self, *, every: int = 1, seconds: float = 0.0) -> bool:
        """Write a snapshot when at least ``every`` embeddings came since the last one, or any came and
        ``seconds`` passed since (unless a newer snapshot exists); whether one was written."""
        due = self.seq - self._saved >= every or (self.seq > self._saved and
                                                  time.monotonic() - self._saved_at >= seconds)
        if self._graph is None or not due:  # the indexer asks at every poll: no lock, no listing
            return False
        with self._lock, file_lock(self.directory / "meaning.lock"):
            existing = snapshots(self.directory, "meaning")
            if self._graph is None or (existing and existing[-1] >= self.seq):
                return False
            write_snapshot(self._graph, self.directory, "meaning", self.seq, existing)
            self._saved, self._saved_at = self.seq, time.monotonic()
            return True


def new_meaning_graph(dim: int) -> Index:
    """Cosine over int8-quantised unit embeddings (the candidates' own cosines are read from the store)."""
    return usearch_index()(ndim=dim, metric="cos", dtype="i8", connectivity=16, expansion_add=64,
                           expansion_search=128)


def encoder_dir(similar_dir: Path) -> Path:
    return similar_dir / "encoder"


def open_encoder(similar_dir: Path) -> MeaningEncoder | None:
    """The encoder installed for this index, or ``None`` (none installed, or it cannot be loaded: logged)."""
    directory = encoder_dir(similar_dir)
    if not (directory / INFO).is_file():
        return None
    try:
        return MeaningEncoder(directory)
    except Exception:
        log.exception("the similarity index's meaning encoder in %s cannot be loaded; scoring without it", directory)
        return None


def install_encoder(source: Path, similar_dir: Path, *, prefix: str | None = None) -> Path:
    """Export the pooled int8 graph of the encoder checkpoint ``source`` (a Hugging Face BERT directory, e.g. the
    base encoder or its distilled student) into ``similar_dir/encoder``; stored embeddings of another encoder are
    dropped by the caller (``ItemStore.clear_meaning``). Needs torch and transformers (training's dependencies)."""
    from transformers import AutoModel, AutoTokenizer

    from sqmy.models.bert_layers import load_encoder
    from sqmy.models.bert_onnx import export_pooled_onnx
    from sqmy.training.student import PREFIX, student_info

    target = encoder_dir(similar_dir)
    staging = target.with_name("encoder-new")
    shutil.rmtree(staging, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = load_encoder(AutoModel, source).eval()
    graph = export_pooled_onnx(model, tokenizer, staging / "graph")
    shutil.move(str(graph), staging / GRAPH)
    shutil.rmtree(staging / "graph")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if (source / name).is_file():
            shutil.copy(source / name, staging / name)
    recorded = student_info(source)
    if prefix is None:  # a distilled student's own, else the e5 passage prefix every engine here uses
        prefix = recorded.get("prefix", PREFIX)
    info: dict[str, Any] = {"name": source.name, "prefix": prefix, "source": str(source),
                            "kind": recorded.get("kind", "")}
    (staging / INFO).write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


class MeaningFiller:
    """Embeds the stored items that have no embedding yet, a batch at a time, newest first (the indexer calls
    ``step`` whenever it has caught up with the classification log), and keeps the graph by meaning's snapshot
    (``graph``) up to date."""

    def __init__(self, store: ItemStore, encoder: MeaningEncoder, graph: MeaningGraph | None = None) -> None:
        self.store, self.encoder, self.graph = store, encoder, graph
        self.complete_to = 0  # every item up to this key had an embedding at the last full look
        if graph is not None:
            graph.load()

    def step(self, limit: int = STEP) -> int:
        """Embed up to ``limit`` items; how many (0: every item has one)."""
        from sqmy.core.text import join_title

        top = self.store.max_key()
        rows = self.store.without_meaning(limit, above=self.complete_to)
        if rows:
            vectors = self.encoder.embed([join_title(title or "", text) for _key, title, text in rows])
            self.store.put_meaning([int(r[0]) for r in rows], vectors)
        else:
            self.complete_to = top
        if self.graph is not None:
            self.graph.sync(self.store)
            self.graph.save(every=SAVE_EVERY, seconds=SAVE_SECONDS)
        return len(rows)

    def close(self) -> None:
        """Write the graph's snapshot (the indexer is stopping)."""
        if self.graph is not None:
            self.graph.sync(self.store)
            self.graph.save()
