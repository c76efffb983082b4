"""Progress of a long command: a small JSON file that a job runner polls, and a line for people."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, TextIO

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


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


STAGE_LABELS = {"writing": "正在写出文件…", "done": "完成", "failed": "失败"}


class Progress:
    """The one progress writer of long commands (archive batches, training, retraining): an atomically replaced
    JSON file that the service's job runner polls, and/or a line on a terminal or log, both with rate and ETA::

        {"done", "total", "rate", "eta_seconds", "errors", "stage", "elapsed_seconds", ...extra}

    Throttled to every ``every`` seconds, except when the stage changes or ``force`` is set. ``begin(total, done)``
    starts the clock; ``done`` rows of a resumed run do not count towards the rate.
    """

    def __init__(self, stream: TextIO | None = None, *, file: Path | None = None, every: float | None = None,
                 percent: bool = False) -> None:
        self.stream, self.file, self.percent = stream, (Path(file) if file else None), percent
        # a terminal gets one line redrawn in place; a log (a pipe, a file) gets a plain line every 10 s
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self.every = every if every is not None else (0.5 if self.tty or stream is None else 10.0)
        self.total: int | None = None
        self.prefix = ""  # put before every stage (e.g. the engine being trained)
        self.raw_stage = "starting"
        self.start = 0
        self.started = time.perf_counter()
        self.last = float("-inf")
        self.state: dict[str, Any] = {"done": 0, "total": None, "rate": 0.0, "eta_seconds": None, "errors": 0,
                                      "stage": "starting"}

    def begin(self, total: int | None, done: int = 0, errors: int = 0, *, stage: str = "classifying") -> None:
        self.total, self.start, self.started = total, done, time.perf_counter()
        self.update(done, errors, stage=stage, force=True)

    def update(self, done: int, errors: int = 0, *, total: int | None = None, stage: str | None = None,
               force: bool = False, **extra: Any) -> None:
        now = time.perf_counter()
        stage = stage if stage is not None else self.raw_stage
        if not (force or stage != self.raw_stage or now - self.last >= self.every):
            return
        self.raw_stage = stage
        self.last = now
        self.total = total if total is not None else self.total
        elapsed = max(now - self.started, 1e-9)
        rate = (done - self.start) / elapsed
        total_ = max(self.total, done) if self.total is not None else None
        eta = (total_ - done) / rate if total_ is not None and rate > 0 else None
        shown = self.prefix + stage if self.prefix and not stage.startswith(self.prefix) else stage
        self.state = {"done": done, "total": total_, "rate": round(rate, 2),
                      "eta_seconds": round(eta, 1) if eta is not None else None, "errors": errors, "stage": shown,
                      "elapsed_seconds": round(elapsed, 1), **extra}
        if total_:
            self.state["percent"] = round(100 * done / total_, 1)
        if self.file is not None:
            write_json_atomic(self.file, self.state)
        if self.stream is not None:
            self._print(done, total_, errors, rate, eta, shown)

    def _print(self, done: int, total: int | None, errors: int, rate: float, eta: float | None, stage: str) -> None:
        assert self.stream is not None
        left = f"，预计还需 {_duration(eta)}" if eta is not None and stage not in STAGE_LABELS else ""
        label = STAGE_LABELS.get(stage, "" if stage == "classifying" else stage)
        if self.percent:  # training: work units mean nothing to a reader, the share done does
            line = f"{label} {done / total:.0%}{left}" if total else label
        else:
            of = f"/{total}（{done / total:.0%}）" if total else ""
            line = f"已处理 {done}{of} 条（错误 {errors} 条），{rate:.0f} 条/秒{left} {label}"
        if self.tty:
            self.stream.write(f"\r{line}\033[K" + ("\n" if stage in ("done", "failed") else ""))
        else:
            self.stream.write(line.strip() + "\n")
        self.stream.flush()

    def stage(self, stage: str) -> None:
        self.update(self.state["done"], self.state["errors"], stage=stage, force=True)


class StepProgress:
    """One percentage and ETA over the steps of training a model: the engine's own work units first (reported by
    ``fit`` through ``on_fit``), then the steps after it (``after``: export, evaluation, gate), each sized in the
    same units. Without a report from the engine (TF-IDF) it shows the stage alone."""

    def __init__(self, progress: Progress, after: dict[str, float]) -> None:
        self.progress, self.after = progress, dict(after)
        self.fit_total: float | None = None

    def on_fit(self, stage: str, done: float, total: float) -> None:
        """The engine's ``FitProgress``."""
        first = self.fit_total is None
        self.fit_total = total
        if first:  # units already done (a resumed run) do not count towards the rate
            self.progress.begin(self._total(), round(done), stage=stage)
        else:
            self.progress.update(round(done), total=self._total(), stage=stage)

    def start(self, stage: str) -> None:
        """Before ``fit`` reports anything: the stage alone."""
        self.progress.update(0, stage=stage, force=True)

    def step(self, name: str) -> None:
        """Start the step ``name`` of ``after`` (everything before it is done)."""
        names = list(self.after)
        before = sum(self.after[n] for n in names[: names.index(name)])
        self.progress.update(round((self.fit_total or 0) + before), total=self._total(), stage=name, force=True)

    def finish(self, stage: str) -> None:
        """Everything is done."""
        total = self._total()
        self.progress.update(total or 0, total=total, stage=stage, force=True)

    def _total(self) -> int | None:
        return round(self.fit_total + sum(self.after.values())) if self.fit_total is not None else None
