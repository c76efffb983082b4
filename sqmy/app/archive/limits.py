"""Bounds on an uploaded archive, checked before it is read: rows, the unpacked size of Parquet, and for XLSX (a zip
of XML parts) the unpacked size, the compression ratio of each part (decompression bombs), the shared-string table
(held whole in memory by the XLSX reader) and the length of every cell. Each breach is a ``ValueError`` in Chinese
that names the setting.

The zip's declared sizes can be trusted: Python's ``zipfile`` never unpacks more than a member declares (a member
that holds more fails its CRC check)."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqmy.app.archive.readers import Item, archive_format, count_rows, iter_items
from sqmy.core.config import Settings, default

EXCEL_CELL_CHARS = 32_767  # the most characters Excel itself puts in a cell
RATIO_CHECKED_FROM = 1 << 20  # parts smaller than this unpack to little whatever their ratio
SHARED_STRINGS = "xl/sharedStrings.xml"
_BLOCK = 1 << 20
BYTES_PER_CHAR = 10  # the most bytes one character takes in XML: a reference such as &#x10FFFF;


@dataclass(frozen=True)
class ArchiveLimits:
    """The bounds of one archive (defaults: the ``SQMY_*`` settings of the same names)."""

    max_rows: int = default("MAX_ARCHIVE_ROWS")
    max_unzipped_mb: int = default("MAX_UNZIPPED_MB")
    max_zip_ratio: int = default("MAX_ZIP_RATIO")
    max_strings_mb: int = default("MAX_XLSX_STRINGS_MB")
    max_text_chars: int = default("MAX_TEXT_CHARS")

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiveLimits:
        return cls(settings.MAX_ARCHIVE_ROWS, settings.MAX_UNZIPPED_MB, settings.MAX_ZIP_RATIO,
                   settings.MAX_XLSX_STRINGS_MB, settings.MAX_TEXT_CHARS)

    @property
    def max_cell_chars(self) -> int:
        """Longer cells cannot be read safely: the text limit, or Excel's own cell limit if that is larger (a cell
        between the two is read, and its row reported as too long)."""
        return max(self.max_text_chars, EXCEL_CELL_CHARS)


def check_archive(path: Path, limits: ArchiveLimits) -> int | None:
    """Every bound that can be checked before the rows are read; ``ValueError`` (in Chinese) on a breach. Returns
    the row count (``count_rows``: for the progress report), ``None`` if unknown."""
    if archive_format(path) == "xlsx":
        check_xlsx(path, limits)
    elif archive_format(path) == "parquet":
        check_parquet(path, limits)
    rows = count_rows(path)
    if rows is not None and rows > limits.max_rows and archive_format(path) == "csv":
        rows = sum(1 for _ in iter_items(path))  # newlines overcount rows whose cells span lines: count exactly
    if rows is not None and rows > limits.max_rows:
        raise ValueError(_too_many_rows(rows, limits.max_rows))
    return rows


def limit_rows(items: Iterable[Item], limits: ArchiveLimits, skip: int = 0) -> Iterator[Item]:
    """``items`` (after ``skip`` already done), stopping with ``ValueError`` past the row limit (a file whose
    declared row count was wrong)."""
    for seen, item in enumerate(items, skip + 1):
        if seen > limits.max_rows:
            raise ValueError(_too_many_rows(seen, limits.max_rows, at_least=True))
        yield item


def _too_many_rows(rows: int, limit: int, at_least: bool = False) -> str:
    counted = "文件" if at_least else f"文件有 {rows} 行，"
    return f"{counted}超过上限 {limit} 行（SQMY_MAX_ARCHIVE_ROWS）：请拆成几个文件分别上传"


def check_xlsx(path: Path, limits: ArchiveLimits) -> None:
    """Unpacked size, compression ratios, the shared-string table and cell lengths of an XLSX file."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{Path(path).name} 不是有效的 XLSX 文件（{exc}）") from exc
    with archive:
        members = archive.infolist()
        total = sum(m.file_size for m in members)
        if total > limits.max_unzipped_mb << 20:
            raise ValueError(f"XLSX 文件解压后 {_mb(total)}，超过上限 {limits.max_unzipped_mb} MB"
                             "（SQMY_MAX_UNZIPPED_MB）：请拆成几个文件，或另存为 CSV 后上传")
        for member in members:
            ratio = member.file_size / max(member.compress_size, 1)
            if member.file_size > RATIO_CHECKED_FROM and ratio > limits.max_zip_ratio:
                raise ValueError(f"XLSX 文件中的 {member.filename} 压缩比 {ratio:.0f}:1，超过上限 "
                                 f"{limits.max_zip_ratio}:1（SQMY_MAX_ZIP_RATIO），疑似压缩炸弹，已拒绝")
            if member.filename == SHARED_STRINGS and member.file_size > limits.max_strings_mb << 20:
                raise ValueError(f"XLSX 文件的共享字符串表解压后 {_mb(member.file_size)}，超过上限 "
                                 f"{limits.max_strings_mb} MB（SQMY_MAX_XLSX_STRINGS_MB）：请拆成几个文件，"
                                 "或另存为 CSV 后上传")
        for member in members:
            if member.filename == SHARED_STRINGS or member.filename.startswith("xl/worksheets/"):
                _check_cells(archive, member, limits.max_cell_chars)


def check_parquet(path: Path, limits: ArchiveLimits) -> None:
    """The unpacked size of a Parquet file, from its metadata (each row group records it)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    total = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if total > limits.max_unzipped_mb << 20:
        raise ValueError(f"Parquet 文件解压后 {_mb(total)}，超过上限 {limits.max_unzipped_mb} MB"
                         "（SQMY_MAX_UNZIPPED_MB）：请拆成几个文件分别上传")


def _mb(size: int) -> str:
    return f"{size / (1 << 20):.0f} MB"


def _check_cells(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int) -> None:
    """Stream one XML part and fail on a cell longer than ``limit`` characters. A cell's text (and any attribute)
    is a run of bytes without ``<``; no character takes more than ``BYTES_PER_CHAR`` bytes, so a run longer than
    ``BYTES_PER_CHAR × limit`` holds more than ``limit`` characters. Memory stays at one block; a cell within that
    bound (at most ``BYTES_PER_CHAR × limit`` characters) is read, and an overlong text reported on its row."""
    bound, run = BYTES_PER_CHAR * limit, 0  # run: bytes since the last "<"
    try:
        with archive.open(member) as part:
            while block := part.read(_BLOCK):
                pieces = block.split(b"<")
                longest = max(run + len(pieces[0]), max(map(len, pieces[1:]), default=0))
                if longest > bound:
                    raise ValueError(f"XLSX 文件中有单元格超过 {limit} 字（SQMY_MAX_TEXT_CHARS 与 Excel 单元格上限 "
                                     f"{EXCEL_CELL_CHARS} 字中的较大者），已拒绝：请检查文件")
                run = run + len(block) if len(pieces) == 1 else len(pieces[-1])
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ValueError(f"XLSX 文件中的 {member.filename} 已损坏（{exc}）") from exc
