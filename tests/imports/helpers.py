"""Build CSV and XLSX files for import tests."""

import csv
import io
from pathlib import Path

import openpyxl


def write_csv(path: Path, rows: list[list], *, encoding: str = "utf-8") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[list]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def write_table(tmp_path: Path, fmt: str, rows: list[list], name: str = "data") -> Path:
    if fmt == "csv":
        return write_csv(tmp_path / f"{name}.csv", rows)
    if fmt == "csv-gbk":
        return write_csv(tmp_path / f"{name}.csv", rows, encoding="gbk")
    if fmt == "csv-bom":
        return write_csv(tmp_path / f"{name}.csv", rows, encoding="utf-8-sig")
    return write_xlsx(tmp_path / f"{name}.xlsx", rows)
