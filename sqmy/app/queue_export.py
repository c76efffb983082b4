"""The work queue's export: the filtered items with their final labels as CSV (UTF-8 with BOM, for Excel on
Chinese Windows) or XLSX; every cell is text that no spreadsheet reads as a formula, phone and ID numbers masked."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from sqmy.app.queue import STATUS_NAMES
from sqmy.core.cells import csv_safe
from sqmy.core.pii import mask_pii

HEADERS = ("编号", "分类编号", "标题", "正文", "状态", "最终分类", "最终主办单位", "最终协办单位", "模型建议分类",
           "模型建议主办单位", "分类置信度", "需复核", "决定人", "决定时间", "分类时间", "备注")


def export_row(item: dict[str, Any]) -> list[str]:
    """One item as the export's cells (all text)."""
    final, suggested, verdict = item["final"], item["suggested"], item["verdict"] or {}
    return [item["item_id"] or "", item["classification_id"] or "", mask_pii(item["title"] or ""),
            mask_pii(item["text"] or ""), STATUS_NAMES[item["status"]],
            " / ".join(final["topic_path"] or []), final["lead"] or "", "、".join(final["assists"] or []),
            " / ".join(suggested["topic_path"] or []), suggested["lead"] or "",
            f"{suggested['topic_confidence']:.2f}", "是" if item["needs_review"] else "否",
            item["decided_by"] or "", item["decided_at"] or "", item["created_at"] or "",
            mask_pii(verdict.get("note") or "")]


def to_csv(items: Sequence[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    writer.writerows([csv_safe(cell) for cell in export_row(item)] for item in items)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(items: Sequence[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("待办与结论")

    def cell(value: str) -> WriteOnlyCell:
        """A string cell, never a formula, whatever the text starts with."""
        out = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("", value))
        out.data_type = "s"
        return out

    sheet.append([cell(h) for h in HEADERS])
    for item in items:
        sheet.append([cell(v) for v in export_row(item)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
