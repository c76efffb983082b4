"""Streaming readers for archives (JSONL, CSV, XLSX, Parquet): one row at a time, with its row number.

Row numbers are what the user's viewer shows: the line number in JSONL, the sheet row (header = row 1) in CSV and
XLSX, the 1-based record index in Parquet. Rows that cannot be read come back as :class:`Item` with ``error`` set.
A line is read at most ``MAX_LINE`` bytes (JSONL) or characters (CSV) at a time, so one endless line cannot fill
the memory.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import orjson

from sqmy.core.io import detect_encoding

T = TypeVar("T")
MAX_LINE = 8 << 20  # far above any real row (the longest text, escaped, is 120 KB)
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".xlsx": "xlsx",
           ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class Item:
    """One input row: its record, or why it could not be read."""

    row: int
    record: dict[str, Any] | None = None
    error: str | None = None


def archive_format(path: Path) -> str:
    """``jsonl``, ``csv``, ``xlsx`` or ``parquet`` from the file name; ``ValueError`` (in Chinese) otherwise."""
    kind = FORMATS.get(Path(path).suffix.lower())
    if kind is None:
        raise ValueError(f"不支持的文件类型：{path}（支持 {'、'.join(sorted(set(FORMATS)))}）")
    return kind


def count_rows(path: Path) -> int | None:
    """The number of data rows, counted cheaply (newlines, XLSX dimension, Parquet metadata); ``None`` if unknown."""
    kind = archive_format(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if kind == "xlsx":
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
        try:
            rows = workbook.worksheets[0].max_row
        finally:
            workbook.close()
        return max(rows - 1, 0) if rows else None
    lines, last = 0, b"\n"
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            lines += block.count(b"\n")
            last = block[-1:]
    lines += last != b"\n"
    return max(lines - 1, 0) if kind == "csv" else lines


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` consecutive items (the last one shorter)."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def first_record(path: Path, sheet: str | None = None) -> dict[str, Any] | None:
    """The first readable record of the archive (it fixes the columns of the output)."""
    return next((item.record for item in iter_items(path, sheet=sheet) if item.record is not None), None)


def header_record(path: Path, sheet: str | None = None) -> dict[str, Any] | None:
    """A record whose keys are every column of the archive, in order of first appearance (values of the first
    record). JSONL rows may differ in their keys, so a JSONL file is read once through; other formats have one
    header, the first record's."""
    first = first_record(path, sheet)
    if first is None or archive_format(path) != "jsonl":
        return first
    keys = dict.fromkeys(first)
    for item in iter_items(path):
        if item.record is not None:
            keys.update(dict.fromkeys(item.record))
    return {key: first.get(key) for key in keys}


def iter_items(path: Path, *, skip: int = 0, sheet: str | None = None) -> Iterator[Item]:
    """Every row of ``path`` in file order, after the first ``skip`` rows (a resumed run skips what it did)."""
    kind = archive_format(path)
    readers = {"jsonl": _jsonl, "csv": _csv, "parquet": _parquet}
    items = _xlsx(Path(path), sheet) if kind == "xlsx" else readers[kind](Path(path))
    return islice(items, skip, None) if skip else items


class _LineTooLong(Exception):
    pass


def _bounded_lines(handle: Any, strict: bool) -> Iterator[Any]:
    """The lines of ``handle``, none longer than ``MAX_LINE``: an overlong one raises ``_LineTooLong`` when
    ``strict``, else comes back as ``None`` (the rest of it skipped without being kept)."""
    while line := handle.readline(MAX_LINE):
        if len(line) < MAX_LINE or line[-1:] in ("\n", b"\n"):
            yield line
            continue
        if strict:
            raise _LineTooLong
        while (rest := handle.readline(MAX_LINE)) and rest[-1:] not in ("\n", b"\n"):
            pass
        yield None


def _jsonl(path: Path) -> Iterator[Item]:
    encoding = detect_encoding(path)
    with open(path, "rb") as handle:
        for row, line in enumerate(_bounded_lines(handle, strict=False), 1):
            if line is None:
                yield Item(row, error=f"该行超过 {MAX_LINE >> 20} MB，已跳过")
                continue
            if row == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            if not line.strip():
                continue
            try:
                value = orjson.loads(line if encoding.startswith("utf-8") else line.decode(encoding))
            except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
                yield Item(row, error=f"不是合法的 JSON：{exc}")
                continue
            yield Item(row, record=value) if isinstance(value, dict) else Item(row, error="每一行必须是一个 JSON 对象")


def _csv(path: Path) -> Iterator[Item]:
    with open(path, encoding=detect_encoding(path), errors="strict", newline="") as handle:
        reader = csv.DictReader(_bounded_lines(handle, strict=True))
        row = 1
        try:
            for record in reader:
                row += 1
                if None in record:  # more cells than header columns
                    yield Item(row, error="该行的列数多于表头")
                    continue
                yield Item(row, record=record)
        except (csv.Error, UnicodeDecodeError) as exc:
            yield Item(row + 1, error=f"CSV 解析失败：{exc}（其后的行无法读取）")
        except _LineTooLong:
            yield Item(row + 1, error=f"CSV 的一行超过 {MAX_LINE >> 20} MB（其后的行无法读取）")


def _xlsx(path: Path, sheet: str | None = None) -> Iterator[Item]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise ValueError(f"{path} 中没有工作表 {sheet!r}（有：{'、'.join(workbook.sheetnames)}）")
        worksheet = workbook[sheet] if sheet else workbook.worksheets[0]
        rows = worksheet.iter_rows(values_only=True)
        header_row = next(rows, None)
        if header_row is None:
            return
        header = [str(v).strip() if v is not None else f"列{i}" for i, v in enumerate(header_row, 1)]
        for row, values in enumerate(rows, 2):
            if all(v is None for v in values):
                continue
            if len(values) > len(header) and any(v is not None for v in values[len(header):]):
                yield Item(row, error="该行的列数多于表头")
                continue
            yield Item(row, record=dict(zip(header, values, strict=False)))
    finally:
        workbook.close()


def _parquet(path: Path, batch_rows: int = 4096) -> Iterator[Item]:
    import pyarrow.parquet as pq

    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        for record in batch.to_pylist():
            row += 1
            yield Item(row, record=record)
