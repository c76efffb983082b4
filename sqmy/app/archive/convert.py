"""Convert the JSONL spool of a finished run into XLSX (openpyxl write-only) or Parquet (pyarrow), streaming.

Two passes over the spool: the first collects the columns (in order of appearance) and the kinds of value each
holds, the second writes. Columns keep their type when all values share one (int, float, bool, str); mixed
columns become text; nested values (lists, dicts) of the archive are JSON text, the result fields keep their
structure in Parquet (``topic_path`` a list, ``departments`` a list of structs…).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

XLSX_MAX_ROWS = 1_048_575  # one row is the header


def _rows(spool: Path) -> Iterator[dict[str, Any]]:
    with open(spool, "rb") as handle:
        for line in handle:
            yield orjson.loads(line)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "nested"


def scan(spool: Path) -> tuple[dict[str, set[str]], int]:
    """Ordered columns → kinds of non-null values, and the row count."""
    columns: dict[str, set[str]] = {}
    n = 0
    for row in _rows(spool):
        n += 1
        for key, value in row.items():
            kinds = columns.setdefault(key, set())
            if value is not None:
                kinds.add(_kind(value))
    return columns, n


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def to_xlsx(spool: Path, out: Path, sheet_title: str = "分类结果") -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    columns, n = scan(spool)
    if n > XLSX_MAX_ROWS:
        raise ValueError(f"{n} 行超过 XLSX 上限 {XLSX_MAX_ROWS} 行，请改为输出 CSV、JSONL 或 Parquet")

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title)

    def cell(value: Any) -> Any:
        """Text is stored as a string cell (never a formula, whatever it starts with); numbers stay numbers."""
        if isinstance(value, list | dict):
            value = _json(value)
        if not isinstance(value, str):
            return value
        text = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("", value))
        text.data_type = "s"
        return text

    names = list(columns)
    sheet.append([cell(name) for name in names])
    for row in _rows(spool):
        sheet.append([cell(row.get(name)) for name in names])
    _save_atomic(out, workbook.save)


def _result_types() -> dict[str, Any]:
    import pyarrow as pa

    path = pa.list_(pa.string())
    return {
        "topic_path": path, "review_reasons": pa.list_(pa.string()),
        "topic_candidates": pa.list_(pa.struct([("topic", pa.string()), ("topic_path", path),
                                                ("confidence", pa.float64())])),
        "departments": pa.list_(pa.struct([("name", pa.string()), ("role", pa.string()),
                                           ("confidence", pa.float64())])),
        "department_candidates": pa.list_(pa.struct([("name", pa.string()), ("confidence", pa.float64()),
                                                     ("involvement", pa.float64())])),
        "facts": pa.list_(pa.struct([("kind", pa.string()), ("text", pa.string()), ("start", pa.int64()),
                                     ("end", pa.int64()), ("level", pa.string())])),
    }


def to_parquet(spool: Path, out: Path, result_names: dict[str, str], batch_rows: int = 8192) -> None:
    """``result_names`` maps result fields to their output column names (``pred_`` prefixed on a clash)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns, _ = scan(spool)
    nested_types = {result_names[k]: t for k, t in _result_types().items() if k in result_names}
    simple = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "str": pa.string()}
    fields, textify = [], set()
    for name, kinds in columns.items():
        if name in nested_types:
            fields.append(pa.field(name, nested_types[name]))
        elif kinds == {"int", "float"}:
            fields.append(pa.field(name, pa.float64()))
        elif len(kinds) == 1 and (kind := next(iter(kinds))) in simple:
            fields.append(pa.field(name, simple[kind]))
        else:  # mixed, nested or always null: text
            fields.append(pa.field(name, pa.string()))
            textify.add(name)
    schema = pa.schema(fields)

    def value(name: str, v: Any) -> Any:
        if v is None or name not in textify:
            return v
        return v if isinstance(v, str) else _json(v) if isinstance(v, list | dict) else str(v)

    def write(path: Path) -> None:
        with pq.ParquetWriter(path, schema) as writer:
            batch: list[dict[str, Any]] = []
            for row in _rows(spool):
                batch.append({name: value(name, row.get(name)) for name in columns})
                if len(batch) >= batch_rows:
                    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                    batch.clear()
            if batch or not columns:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))

    _save_atomic(out, write)


def _save_atomic(out: Path, save: Any) -> None:
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        save(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
