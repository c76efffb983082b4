"""Embeddings by meaning (the e5 encoder's mean-pooled output) for reranking a query's candidates.

Too slow to compute when an item is added (≈ 28 items/s on one core against ≥ 1,000 items/s of indexing), so
the indexer process computes them afterwards at its own pace (``embed_pending``: newest items first) and stores
them beside the index (``ItemStore.put_meaning``); a query encodes its own text (one text, ≈ 13 ms of CPU)
and the pairwise model uses the rank and the relative similarity of each candidate by meaning where the candidate
has its embedding (``pairs``; docs/BENCHMARKS.md, similar items, round 5). The encoder is the int8 graph of an
encoder's pooled output, installed under ``SQMY_HOME/similar/encoder`` by ``sqmy index --encoder DIR``; without
it nothing here runs and the scores are those of round 4."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sqmy.app.similar.store import ItemStore

log = logging.getLogger(__name__)
GRAPH = "model.int8.onnx"
INFO = "meaning.json"
MAX_TOKENS = 128  # the student encoder's budget; longer texts are cut (the title and the start carry the matter)
BATCH = 32  # texts per pass of the graph
STEP = 16  # texts the indexer embeds between two looks at the classification log (≈ 0.5 s of one core)


class MeaningEncoder:
    """Mean-pooled, L2-normalised embeddings from an installed pooled int8 graph (one thread: the indexer and the
    queries must not take both cores)."""

    def __init__(self, directory: Path) -> None:
        from sqmy.models.bert_layers import FastTokenizer
        from sqmy.models.bert_onnx import OnnxRunner

        info = json.loads((directory / INFO).read_text(encoding="utf-8"))
        self.prefix: str = info.get("prefix", "")
        self.name: str = info.get("name", directory.name)
        self.tokenizer = FastTokenizer(directory)
        self.runner = OnnxRunner(directory / GRAPH, threads=1)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One ``float32`` unit row per text (``texts``: titles and bodies joined)."""
        from sqmy.models.bert_layers import numpy_batches

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        ids = self.tokenizer([self.prefix + t for t in texts], max_length=MAX_TOKENS)["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out: np.ndarray | None = None
        with self._lock:
            for rows, input_ids, mask in numpy_batches(ids, order, BATCH, self.tokenizer.pad_token_id):
                pooled = self.runner(input_ids, mask)["pooled"]
                if out is None:
                    out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
                out[rows] = pooled
        assert out is not None
        return np.asarray(out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9), dtype=np.float32)


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
    if prefix is None:  # a distilled student's own, else the e5 passage prefix every engine here uses
        prefix = student_info(source).get("prefix", PREFIX)
    info: dict[str, Any] = {"name": source.name, "prefix": prefix, "source": str(source)}
    (staging / INFO).write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


class MeaningFiller:
    """Embeds the stored items that have no embedding yet, a batch at a time, newest first (the indexer calls
    ``step`` whenever it has caught up with the classification log)."""

    def __init__(self, store: ItemStore, encoder: MeaningEncoder) -> None:
        self.store, self.encoder = store, encoder
        self.complete_to = 0  # every item up to this key had an embedding at the last full look

    def step(self, limit: int = STEP) -> int:
        """Embed up to ``limit`` items; how many (0: every item has one)."""
        from sqmy.core.text import join_title

        top = self.store.max_key()
        rows = self.store.without_meaning(limit, above=self.complete_to)
        if not rows:
            self.complete_to = top
            return 0
        vectors = self.encoder.embed([join_title(title or "", text) for _key, title, text in rows])
        self.store.put_meaning([int(r[0]) for r in rows], vectors)
        return len(rows)
