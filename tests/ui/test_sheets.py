"""Tables in uploaded and downloaded files: CSV and Excel workbooks (no browser needed)."""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import Workbook, load_workbook

from crmqa.drivers.ui.sheets import fill_placeholders, is_workbook, read_table


def _workbook(rows: list[list[object]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_a_workbook_reads_as_header_and_rows_with_numbers_as_shown() -> None:
    raw = _workbook([["first_name", "company", "phone"], ["Zoë", "北京科技有限公司", 5550100],
                     [None, None, None], ["Ann", None, 1.5]])
    table = read_table("Lead_db_IamGlobalSALES.xlsx", raw)
    assert table is not None
    assert table.header == ["first_name", "company", "phone"]
    assert table.rows == [{"first_name": "Zoë", "company": "北京科技有限公司", "phone": "5550100"},
                          {"first_name": "Ann", "company": "", "phone": "1.5"}]
    assert "Zoë\t北京科技有限公司\t5550100" in table.text


def test_a_workbook_is_known_by_its_content_when_its_name_says_nothing() -> None:
    raw = _workbook([["a"], ["1"]])
    assert is_workbook("download", raw)
    assert not is_workbook("download", b"PK\x03\x04 not a zip")
    assert not is_workbook("leads.csv", b"first_name\nAnn\n")
    table = read_table("download", raw)
    assert table is not None and table.rows == [{"a": "1"}]


def test_csv_and_other_text() -> None:
    table = read_table("x.csv", "\ufefffirst_name,email\nZoë,z@x.test\n".encode())
    assert table is not None and table.rows == [{"first_name": "Zoë", "email": "z@x.test"}]
    assert read_table("notes.txt", b"just words") is None


def test_placeholders_are_filled_in_every_text_cell_and_in_text(tmp_path: Path) -> None:
    source = tmp_path / "leads.xlsx"
    book = Workbook()
    book.active.append(["first_name", "email", "phone"])
    book.active.append(["Import${unique}", "i-${unique}@x.test", 42])
    book.create_sheet("More").append(["${unique}", "${unknown}"])
    book.save(source)
    filled = tmp_path / "out" / "leads.xlsx"
    filled.parent.mkdir()
    fill_placeholders(source, {"unique": "u1"}, filled)
    result = load_workbook(filled)
    assert [c.value for c in result.worksheets[0][2]] == ["Importu1", "i-u1@x.test", 42]
    assert [c.value for c in result.worksheets[1][1]] == ["u1", "${unknown}"]

    text = tmp_path / "leads.csv"
    text.write_text("first_name\nA${unique}\n", encoding="utf-8")
    fill_placeholders(text, {"unique": 7}, tmp_path / "out" / "leads.csv")
    assert (tmp_path / "out" / "leads.csv").read_text(encoding="utf-8") == "first_name\nA7\n"
