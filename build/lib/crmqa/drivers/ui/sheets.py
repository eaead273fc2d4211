"""Tables in the files a UI step uploads or downloads: CSV text and Excel workbooks (.xlsx).

CRMs import and export both. A downloaded file is read into `header` and `rows` (one dict per
row, keyed by the header), whichever it is; a file to upload may hold `${name}` placeholders,
in its text or in the text cells of every sheet, filled from the step's `values` so that each
run uploads unique data from a static fixture.
"""

from __future__ import annotations

import csv
import io
import string
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXCEL_SUFFIXES = (".xlsx", ".xlsm")


@dataclass
class Table:
    """A file's first table: its header row, its data rows, and its cells as text."""

    header: list[str]
    rows: list[dict[str, Any]]
    text: str


def is_workbook(name: str, raw: bytes) -> bool:
    """True for an Excel workbook: by its name, or by its content (a zip with `xl/` parts)."""
    if name.lower().endswith(EXCEL_SUFFIXES):
        return True
    if not raw.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            return any(part.startswith("xl/") for part in archive.namelist())
    except zipfile.BadZipFile:
        return False


def _cell_text(value: Any) -> Any:
    # Excel keeps numbers and dates typed; a CSV reader would give text. Whole numbers read
    # as "42" rather than "42.0" so that an id or a phone compares as the CRM shows it.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def read_workbook(raw: bytes) -> Table:
    """The first sheet of a workbook: its first row is the header, empty rows are skipped."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    try:
        sheet = book.worksheets[0]
        lines = [[_cell_text(cell) for cell in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    lines = [line for line in lines if any(cell != "" for cell in line)]
    if not lines:
        return Table(header=[], rows=[], text="")
    header = [str(cell) for cell in lines[0]]
    rows = [dict(zip(header, line + [""] * (len(header) - len(line)), strict=False))
            for line in lines[1:]]
    text = "\n".join("\t".join(str(cell) for cell in line) for line in lines)
    return Table(header=header, rows=rows, text=text)


def read_csv(content: str) -> Table:
    """CSV text with a header row."""
    reader = csv.DictReader(io.StringIO(content))
    rows = list(reader)
    return Table(header=list(reader.fieldnames or []), rows=rows, text=content)


def read_table(name: str, raw: bytes) -> Table | None:
    """The table in a downloaded file, or None when it is neither a workbook nor CSV text."""
    if is_workbook(name, raw):
        return read_workbook(raw)
    content = raw.decode("utf-8-sig", errors="replace")
    if name.lower().endswith(".csv") or "," in content.split("\n", 1)[0]:
        return read_csv(content)
    return None


def fill_placeholders(source: Path, values: dict[str, Any], destination: Path) -> None:
    """Copy `source` to `destination`, `${name}` placeholders filled from `values`.

    Text files are filled as text; in a workbook, every text cell of every sheet is.
    Placeholders without a value stay as written.
    """
    mapping = {key: str(value) for key, value in values.items()}
    if source.name.lower().endswith(EXCEL_SUFFIXES):
        from openpyxl import load_workbook

        book = load_workbook(source)
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    if isinstance(cell.value, str) and "$" in cell.value:
                        cell.value = string.Template(cell.value).safe_substitute(mapping)
        book.save(destination)
        return
    text = source.read_text(encoding="utf-8")
    destination.write_text(string.Template(text).safe_substitute(mapping), encoding="utf-8")
