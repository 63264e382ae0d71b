"""Exports of analytics rows as CSV or Excel (``.xlsx`` through openpyxl); pure: rows in, bytes out."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _columns(rows: Sequence[dict]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    return columns


def to_csv(rows: Sequence[dict]) -> bytes:
    """RFC 4180 CSV with a header row; empty cells for missing values."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(rows), lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue().encode("utf-8")


def to_xlsx(rows: Sequence[dict], sheet: str = "export") -> bytes:
    """One worksheet: a header row, then the rows (numbers as numbers, times as ISO 8601 text)."""
    from openpyxl import Workbook  # only exports need it

    book = Workbook()
    ws = book.active
    ws.title = sheet[:31]
    columns = _columns(rows)
    ws.append(columns)
    for row in rows:
        ws.append([row.get(c) for c in columns])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def export(rows: Sequence[dict], fmt: str, sheet: str = "export") -> bytes:
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "xlsx":
        return to_xlsx(rows, sheet)
    raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")
