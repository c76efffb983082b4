"""Citizens' text written into spreadsheets stays text: no cell of a CSV or XLSX result is ever a formula."""

from __future__ import annotations

# a spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV injection")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """A CSV cell as text: a leading formula character is escaped with an apostrophe, which Excel and LibreOffice
    show as text and do not display."""
    return f"'{value}" if value.startswith(FORMULA_TRIGGERS) else value
