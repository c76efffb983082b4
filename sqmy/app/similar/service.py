"""The similarity index as the service and the CLI use it: opened from settings, fed in the background."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqmy.app.similar.index import SimilarIndex, Thresholds, open_index
from sqmy.app.similar.store import Entry
from sqmy.app.similar.vectors import item_text
from sqmy.core.config import Settings

log = logging.getLogger(__name__)
READY_WAIT_S = 120.0  # a request waits this long for the index to open (the first start fits the projection)


class NotReadyError(RuntimeError):
    """The index is still being opened (first start: the projection is being fitted)."""


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(settings.SIMILAR_DUPLICATE, settings.SIMILAR_THRESHOLD, settings.SIMILAR_PLACE_WEIGHT,
                      settings.SIMILAR_TOWN_WEIGHT, fine_weight=settings.SIMILAR_FINE_WEIGHT,
                      model=settings.SIMILAR_SCORE)


def cluster_thresholds(settings: Settings) -> Thresholds:
    return replace(thresholds(settings), same_matter=settings.SIMILAR_CLUSTER_THRESHOLD)


def corpus_texts(corpus_dir: Path) -> list[str]:
    """The normalised texts of the bundled corpus (``*.jsonl`` under ``SQMY_CORPUS_DIR``): what the projection is
    fitted on."""
    texts = []
    for path in sorted(Path(corpus_dir).glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    row = json.loads(line)
                    texts.append(item_text(str(row.get("title") or ""), str(row.get("text") or "")))
    if len(texts) < 20:
        raise FileNotFoundError(f"拟合相似度向量需要语料：{corpus_dir} 中的 *.jsonl 不足 20 条（SQMY_CORPUS_DIR）")
    return texts


def open_from_settings(settings: Settings) -> SimilarIndex:
    return open_index(settings.similar_dir, lambda: corpus_texts(settings.CORPUS_DIR), dim=settings.SIMILAR_DIM,
                      thresholds=thresholds(settings), meaning=settings.SIMILAR_MEANING)


def today() -> str:
    return datetime.now(UTC).date().isoformat()


class SimilarService:
    """Opens the index in a background thread and adds entries from a queue (off the request path)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.index: SimilarIndex | None = None
        self.error: str | None = None
        self._ready = threading.Event()
        self._queue: queue.Queue[list[Entry] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="sqmy-similar", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self.index = open_from_settings(self.settings)
        except Exception as exc:
            log.exception("the similarity index could not be opened")
            self.error = str(exc)
        finally:
            self._ready.set()
        stop = False
        while not stop:
            batches = [self._queue.get()]
            while len(batches) < 256:  # whatever else is queued goes into the same transaction
                try:
                    batches.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = None in batches
            entries = [e for batch in batches if batch is not None for e in batch]
            try:
                if self.index is not None and entries:
                    self.index.add(entries)
            except Exception:
                log.exception("could not index %d items", len(entries))
            for _ in batches:
                self._queue.task_done()

    def add(self, entries: Sequence[Entry]) -> None:
        if entries:
            self._queue.put(list(entries))

    def flush(self) -> None:
        """Block until everything queued so far is indexed."""
        self._queue.join()

    def ready(self, wait: float = READY_WAIT_S) -> SimilarIndex:
        """The open index; ``NotReadyError`` while it is still opening, ``RuntimeError`` when it failed."""
        if not self._ready.wait(wait):
            raise NotReadyError("相似留言索引正在初始化（首次启动需拟合向量），请稍后再试")
        if self.index is None:
            raise RuntimeError(f"相似留言索引不可用：{self.error}")
        return self.index

    def close(self) -> None:
        """Index what is queued and save a snapshot; a first fit still running is left behind (it writes its
        files atomically, the next start fits again)."""
        if not self._ready.is_set():
            return
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=60)
        if self.index is not None:
            self.index.close()


def feedback_entry(row: dict[str, Any]) -> Entry:
    """The index entry of a staff verdict that refers to no stored classification."""
    lead = next((d["name"] for d in row.get("departments") or [] if d["role"] == "lead"), None)
    return Entry(id=f"f-{row['id']}", text=row["text"], title=row.get("title") or "", source="feedback",
                 topic="/".join(row["topic_path"]) if row.get("topic_path") else None, lead=lead,
                 date=str(row.get("created_at") or today())[:10], verdict=row["action"])


def group_hint(answers: Sequence[dict[str, Any]], groups: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The merge group of the best similar item that is in one: its lead unit is the suggested lead (并案)."""
    for answer in answers:
        group = groups.get(answer["id"])
        if group is not None:
            return group | {"via": answer["id"], "kind": answer["kind"], "score": answer["score"]}
    return None


def period_items(index: SimilarIndex, start: str | None, end: str | None) -> list[Any]:
    """The indexed items dated in ``[start, end]`` as cluster items."""
    from sqmy.app.similar.cluster import Item

    return [Item(r["id"], r["text"], r["title"], r["topic"], r["lead"], r["date"])
            for r in index.store.between(start, end)]


def index_verdict(service: SimilarService, row: dict[str, Any]) -> None:
    """A stored verdict in the index: the labels of the classification it judges, or an item of its own."""
    lead = next((d["name"] for d in row.get("departments") or [] if d["role"] == "lead"), None)
    topic = "/".join(row["topic_path"]) if row.get("topic_path") else None
    if row.get("classification_id"):
        service.flush()
        index = service.ready()
        if index.set_labels(row["classification_id"], topic=topic, lead=lead, verdict=row["action"]):
            return
    service.add([feedback_entry(row)])
