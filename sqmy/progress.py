"""Progress of a long command, written as a small JSON file that a job runner (or a person) can poll."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import orjson


def write_json_atomic(path: Path, value: Any) -> None:
    """Write ``value`` to ``path`` so that a reader sees the old or the new file, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


class ProgressFile:
    """``{"done", "total", "rate", "eta_seconds", "errors", "stage"}``, rewritten at most every ``every`` seconds
    (and always when the stage changes or ``final`` is set). A ``None`` path makes every call a no-op."""

    def __init__(self, path: Path | None, every: float = 0.5) -> None:
        self.path, self.every = (Path(path) if path else None), every
        self.started = self.last = time.monotonic()
        self.stage = ""

    def update(self, done: int = 0, total: int | None = None, *, errors: int = 0, stage: str | None = None,
               final: bool = False, **extra: Any) -> None:
        if self.path is None:
            return
        now = time.monotonic()
        changed = stage is not None and stage != self.stage
        if not (final or changed or now - self.last >= self.every):
            return
        self.stage = stage if stage is not None else self.stage
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if total and rate > 0 else None
        write_json_atomic(self.path, {"done": done, "total": total, "rate": round(rate, 2),
                                      "eta_seconds": round(eta, 1) if eta is not None else None, "errors": errors,
                                      "stage": self.stage, "elapsed_seconds": round(elapsed, 1), **extra})
        self.last = now
