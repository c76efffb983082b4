"""XLSX files written part by part (no openpyxl): hostile shapes a spreadsheet program would never save, made fast.

``write_xlsx_parts`` streams a workbook whose first sheet has a header row and data rows; ``bomb_xlsx`` is a few
hundred KB holding one huge shared string (a decompression bomb); ``many_rows_xlsx`` has ``n`` short rows."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>")
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'sharedStrings" Target="sharedStrings.xml"/></Relationships>')
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _row_xml(number: int, values: Sequence[str | int]) -> str:
    """A sheet row; an ``int`` is an index into the shared strings, a ``str`` an inline string."""
    cells = []
    for i, value in enumerate(values):
        ref = f"{_column(i)}{number}"
        if isinstance(value, int):
            cells.append(f'<c r="{ref}" t="s"><v>{value}</v></c>')
        else:
            cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>')
    return f'<row r="{number}">{"".join(cells)}</row>'


def write_xlsx_parts(path: Path, header: Sequence[str], rows: Iterable[Sequence[str | int]],
                     shared: Iterable[Iterable[str]] = ()) -> Path:
    """Stream a one-sheet workbook: the header and ``rows`` (inline strings or shared-string indexes); each
    shared string comes in pieces (so a huge one is never whole in memory)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
            part.write(f'<?xml version="1.0" encoding="UTF-8"?><sst {_NS}>'.encode())
            for pieces in shared:
                part.write(b"<si><t>")
                for piece in pieces:
                    part.write(escape(piece).encode())
                part.write(b"</t></si>")
            part.write(b"</sst>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write(f'<?xml version="1.0" encoding="UTF-8"?><worksheet {_NS}><sheetData>'.encode())
            part.write(_row_xml(1, list(header)).encode())
            for number, values in enumerate(rows, 2):
                part.write(_row_xml(number, values).encode())
            part.write(b"</sheetData></worksheet>")
    return path


def bomb_xlsx(path: Path, chars: int = 200_000_000) -> Path:
    """A small file whose one shared string is ``chars`` characters long (200 M by default: ~200 KB zipped)."""

    def huge() -> Iterable[str]:
        block = 1 << 20
        for start in range(0, chars, block):
            yield "A" * min(block, chars - start)

    return write_xlsx_parts(path, ["编号", "留言详情"], [["b-1", 0]], shared=[huge()])


def many_rows_xlsx(path: Path, n: int) -> Path:
    """``n`` short data rows (inline strings), e.g. 1M rows in about 5 MB."""
    return write_xlsx_parts(path, ["编号", "留言详情"], ([f"r-{i}", "小区路灯坏了"] for i in range(n)))
