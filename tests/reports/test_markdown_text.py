"""Literal text in summary.md: readable raw, rendered as the same text, never markup.

Rendering goes through markdown-it-py (CommonMark with GFM tables and strikethrough, raw HTML
allowed as GitHub's renderer allows it before sanitising), so "renders right" is checked by a
real parser, not by looking for characters.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from crmqa.reports.markdown import markdown_cell

RENDERER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


class _Cells(HTMLParser):
    """The table's cells as text, and every element found inside a cell."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.inside: list[str] = []  # elements met inside cells (there should be none)
        self.other: list[str] = []  # elements outside the table's own ones
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif self._cell is not None:
            self.inside.append(tag)
        elif tag not in ("table", "thead", "tbody", "p", "ul", "li", "h1", "blockquote"):
            self.other.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def rendered_cells(markdown: str) -> _Cells:
    parser = _Cells()
    parser.feed(RENDERER.render(markdown))
    return parser


TRICKY = [
    "a -> b => c <= d",
    "x < y and y > z; 3 <4",
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "<!-- hidden --> and <?php echo 1; ?>",
    "Ana <qa lead> and <ana@example.com> and <https://evil.example>",
    "R&D & co; &amp; &lt;b&gt; &#60; &#x3c; &copy;",
    "a | b || c |",
    "pipe in code `a|b` and `x`",
    "``double`` and `single` and a lone ` tick",
    "*emphasis* and **strong** and _under_ and __double__",
    "first_name, last_name, snake_case_value, 2*3 and a * b",
    "~~struck~~ and ~5 s",
    "[link](http://evil.example) and ![img](http://evil.example/p.png) and [x] done",
    "[ref][1] and [1]: http://evil.example",
    "C:\\path\\to\\file and \\| and \\* and \\\\ and a trailing \\",
    "line\nbreak\tand   spaces",
    "Lead #42 and issue #",
    "ESC\x1b[31m red \x07 bell",
    "Юлия Сидорова — 张伟 ✓",
    "http://127.0.0.1:8000/leads?q=a&b=c",
]


def _expected(text: str) -> str:
    collapsed = " ".join(text.split())
    return "".join("\ufffd" if ord(c) < 32 or ord(c) == 127 else c for c in collapsed)


@pytest.mark.parametrize("text", TRICKY)
def test_a_cell_renders_as_exactly_its_text(text: str) -> None:
    cell = markdown_cell(text)
    assert "\n" not in cell
    table = f"| name | value | after |\n|---|---|---|\n| x | {cell} | end |\n"
    parsed = rendered_cells(table)
    assert parsed.inside == [] and parsed.other == [], RENDERER.render(table)
    assert parsed.rows[1] == ["x", _expected(text), "end"]  # same text, table intact


@pytest.mark.parametrize("text", [*TRICKY, "# heading", "> quote", "- item", "+ item",
                                  "* item", "1. first", "2) second", "---", "___", "```fence",
                                  "~~~fence", "    indented"])
def test_a_list_item_renders_as_exactly_its_text(text: str) -> None:
    page = f"- {markdown_cell(text, block_start=True)}\n- next\n"
    html = RENDERER.render(page)
    parser = _Cells()
    parser.feed(html)
    assert parser.other == [] and html.count("<li>") == 2, html
    item = html.split("<li>")[1].split("</li>")[0]
    text_only = _Cells()
    text_only.feed(f"<table><tr><td>{item}</td></tr></table>")
    assert text_only.inside == [] and text_only.rows[0] == [_expected(text)], html


def test_a_heading_keeps_a_trailing_hash() -> None:
    html = RENDERER.render(f"# Test summary: {markdown_cell('Plan #')}\n")
    assert html.strip() == "<h1>Test summary: Plan #</h1>"


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("a -> b", "a -> b"),  # nothing to escape: stays as typed
        ("x < y and y > z", "x < y and y > z"),
        ("R&D and Q&A", "R&D and Q&A"),
        ("first_name", "first_name"),
        ("2*3 and a * b", "2*3 and a * b"),
        ("it's a `quote", "it's a `quote"),
        ("[x] done", "[x] done"),
        ("C:\\path\\to", "C:\\path\\to"),
        ("a | b", "a \\| b"),
        ("<script>alert('x')</script>", "\\<script>alert('x')\\</script>"),
        ("Ana <qa lead>", "Ana \\<qa lead>"),
        ("&amp; stays literal", "\\&amp; stays literal"),
        ("*y* and _z_", "\\*y\\* and \\_z\\_"),
        ("`a` and `b`", "\\`a\\` and \\`b`"),
        ("[l](u)", "\\[l](u)"),
        ("\\|", "\\\\\\|"),
        (None, ""),
    ],
)
def test_the_raw_text_reads_naturally(text: str | None, raw: str) -> None:
    assert markdown_cell(text) == raw
