"""Progress of a batch run: a line on stderr (count, rate, ETA) and an atomically replaced JSON file.

The progress file is the contract with the service's job runner, which polls it::

    {"done": int, "total": int | null, "rate": float, "eta_seconds": float | null, "errors": int, "stage": str}

Stages: ``starting``, ``classifying``, ``writing`` (XLSX/Parquet conversion), ``done``, ``failed``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, TextIO

from sqmy.progress import write_json_atomic


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """Reports rows done (of ``total`` when known) with rate and ETA; throttled to every ``every`` seconds.

    ``start`` is the number of rows a resumed run had already done: the rate counts only this run's rows.
    """

    def __init__(self, stream: TextIO | None = sys.stderr, *, file: Path | None = None, every: float = 0.5) -> None:
        self.stream, self.file, self.every = stream, file, every
        self.total: int | None = None
        self.start = 0
        self.started = time.perf_counter()
        self.last = float("-inf")
        self.state: dict[str, Any] = {"done": 0, "total": None, "rate": 0.0, "eta_seconds": None, "errors": 0,
                                      "stage": "starting"}

    def begin(self, total: int | None, done: int = 0, errors: int = 0) -> None:
        self.total, self.start, self.started = total, done, time.perf_counter()
        self.update(done, errors, stage="classifying", force=True)

    def update(self, done: int, errors: int, *, stage: str = "classifying", force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.last < self.every:
            return
        self.last = now
        rate = (done - self.start) / max(now - self.started, 1e-9)
        total = max(self.total, done) if self.total is not None else None
        eta = (total - done) / rate if total is not None and rate > 0 else None
        self.state = {"done": done, "total": total, "rate": round(rate, 1),
                      "eta_seconds": round(eta, 1) if eta is not None else None, "errors": errors, "stage": stage}
        if self.file is not None:
            write_json_atomic(self.file, self.state)
        if self.stream is not None:
            of = f"/{total}（{done / total:.0%}）" if total else ""
            left = f"，预计还需 {_duration(eta)}" if eta is not None and stage == "classifying" else ""
            label = {"writing": "正在写出文件…", "done": "完成", "failed": "失败"}.get(stage, "")
            self.stream.write(f"\r已处理 {done}{of} 条（错误 {errors} 条），{rate:.0f} 条/秒{left} {label}")
            if stage in ("done", "failed"):
                self.stream.write("\n")
            self.stream.flush()

    def stage(self, stage: str) -> None:
        self.update(self.state["done"], self.state["errors"], stage=stage, force=True)
