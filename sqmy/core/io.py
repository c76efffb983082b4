"""Streaming readers for labelled item files (JSONL, CSV), with encoding detection; archives of every format are
read by :mod:`sqmy.app.archive.readers`.

Chinese offices often export CSV in GBK/GB18030; files are read as UTF-8 (BOM tolerated) and fall back to
GB18030 when the head of the file is not valid UTF-8."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import orjson

SUPPORTED = (".jsonl", ".ndjson", ".json", ".csv")


class RecordError(ValueError):
    """A row that could not be read; ``row`` is its 1-based line/row number."""

    def __init__(self, row: int, message: str) -> None:
        self.row = row
        super().__init__(message)


def file_format(path: Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise ValueError(f"{path}: unsupported file type {suffix!r} (supported: {', '.join(SUPPORTED)})")


def detect_encoding(path: Path, sample_bytes: int = 1 << 16) -> str:
    with open(path, "rb") as handle:
        head = handle.read(sample_bytes)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start > len(head) - 4:  # a multi-byte character cut by the sample boundary
            return "utf-8"
    try:
        head.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: neither UTF-8 nor GB18030 text (byte {exc.start})") from exc


def iter_records(path: Path, encoding: str | None = None) -> Iterator[dict[str, Any] | RecordError]:
    """Yield each row as a dict, or a :class:`RecordError` for a row that cannot be parsed."""
    path = Path(path)
    kind = file_format(path)
    encoding = encoding or detect_encoding(path)
    with open(path, encoding=encoding, errors="strict", newline="" if kind == "csv" else None) as handle:
        yield from (_iter_jsonl(handle) if kind == "jsonl" else _iter_csv(handle))


def _iter_jsonl(handle: TextIO) -> Iterator[dict[str, Any] | RecordError]:
    row = 0
    while True:
        row += 1
        try:
            line = handle.readline()
        except UnicodeDecodeError as exc:
            yield RecordError(row, f"编码错误：{exc.reason}")
            return
        if not line:
            return
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield RecordError(row, f"不是合法的 JSON：{exc}")
            continue
        yield value if isinstance(value, dict) else RecordError(row, "每一行必须是一个 JSON 对象")


def _iter_csv(handle: TextIO) -> Iterator[dict[str, Any] | RecordError]:
    reader = csv.DictReader(handle)
    try:
        for row in reader:
            if None in row:  # more cells than header columns
                yield RecordError(reader.line_num, "该行的列数多于表头")
                continue
            yield row
    except (csv.Error, UnicodeDecodeError) as exc:
        yield RecordError(reader.line_num + 1, f"CSV 解析失败：{exc}")


def dumps(value: Any) -> str:
    """Pretty JSON for humans and machines (UTF-8, Chinese unescaped)."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode()
