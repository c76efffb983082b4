"""Output files of a batch run and the checkpoint that makes it resumable.

JSONL and CSV output is appended to ``OUT`` directly. XLSX and Parquet cannot be appended to, so their rows go to
a JSONL spool ``OUT.partial.jsonl`` that is converted once every row is done. After a chunk has been written,
``OUT.checkpoint.json`` records how many input rows were consumed and how many bytes of the output (or spool) and
of ``OUT.errors.jsonl`` belong to them, after both files were flushed and fsynced. ``--resume`` truncates both files
to those sizes and skips the consumed input rows, so a killed run continues without duplicated or missing rows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from sqmy.app.archive.rows import ChunkResult
from sqmy.core.progress import write_json_atomic

CHECKPOINT_VERSION = 1


def errors_path(out_path: Path) -> Path:
    return out_path.with_name(out_path.name + ".errors.jsonl")


def checkpoint_path(out_path: Path) -> Path:
    return out_path.with_name(out_path.name + ".checkpoint.json")


def spool_path(out_path: Path) -> Path:
    return out_path.with_name(out_path.name + ".partial.jsonl")


def fingerprint(path: Path) -> dict[str, Any]:
    """Identifies an input file version (a changed file cannot be resumed)."""
    stat = Path(path).stat()
    return {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def load_checkpoint(out_path: Path) -> dict[str, Any] | None:
    path = checkpoint_path(out_path)
    if not path.is_file():
        return None
    data = orjson.loads(path.read_bytes())
    return data if data.get("version") == CHECKPOINT_VERSION else None


class OutputFiles:
    """Appends chunk results to the output (or spool) and the errors file, and checkpoints them."""

    def __init__(self, out_path: Path, *, spooled: bool, checkpoint: dict[str, Any] | None = None) -> None:
        self.out_path, self.spooled = Path(out_path), spooled
        self.target = spool_path(self.out_path) if spooled else self.out_path
        self.errors_file = errors_path(self.out_path)
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        if checkpoint is None:
            checkpoint_path(self.out_path).unlink(missing_ok=True)
            self._out: BinaryIO = open(self.target, "wb")  # noqa: SIM115
            self._errors: BinaryIO = open(self.errors_file, "wb")  # noqa: SIM115
        else:
            self._out = _open_truncated(self.target, checkpoint["out_bytes"])
            self._errors = _open_truncated(self.errors_file, checkpoint["errors_bytes"])

    def write_header(self, header: bytes) -> None:
        self._out.write(header)

    def append(self, chunk: ChunkResult) -> None:
        self._out.write(chunk.out)
        self._errors.write(chunk.errors)

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Make everything written so far durable, then record it (with ``state``) in the checkpoint."""
        for handle in (self._out, self._errors):
            handle.flush()
            os.fsync(handle.fileno())
        write_json_atomic(checkpoint_path(self.out_path), {
            "version": CHECKPOINT_VERSION, **state, "out_bytes": self._out.tell(),
            "errors_bytes": self._errors.tell()})

    def close(self) -> None:
        self._out.close()
        self._errors.close()

    def finish(self) -> None:
        """Remove the checkpoint and the spool once the final output is in place."""
        self.close()
        checkpoint_path(self.out_path).unlink(missing_ok=True)
        if self.spooled:
            self.target.unlink(missing_ok=True)


def _open_truncated(path: Path, size: int) -> BinaryIO:
    if not path.is_file() or path.stat().st_size < size:
        raise ValueError(f"无法续跑：{path} 比检查点记录的短（可能被改动过），请去掉 --resume 重新开始")
    handle = open(path, "r+b")  # noqa: SIM115
    handle.truncate(size)
    handle.seek(size)
    return handle
