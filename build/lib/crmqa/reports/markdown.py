"""Plain text inside Markdown (GitHub-flavoured): shown as it is, read as it is.

Text in summary.md comes from the CRM under test and from plans: lead names, messages,
titles. It must render literally (no markup, no HTML, no broken table) and still read well
in a terminal, so only what could start Markdown syntax at that place is escaped, with a
backslash: `->` and `a < b` stay as they are, `<script>` becomes `\\<script>`, `R&D` stays,
`&amp;` becomes `\\&amp;`, `first_name` and `2*3` stay, `_init_` becomes `\\_init\\_`.
"""

from __future__ import annotations

import re
import string
import unicodedata

_PUNCTUATION = frozenset(string.punctuation)  # what a backslash escapes in CommonMark
# `<` starts raw HTML or an autolink only before a letter, `/`, `!` or `?`.
_TAG_START = re.compile(r"<[A-Za-z/!?]")
# `&` starts an entity or a numeric character reference only in these shapes.
_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});")
_ORDERED_MARKER = re.compile(r"\d{1,9}(?=[.)])")
_BLOCK_MARKERS = frozenset("#>+-*_~`")


def _is_space(char: str) -> bool:
    return char == "" or char.isspace()


def _delimiter_is_literal(char: str, before: str, after: str) -> bool:
    """A run of `*`, `_` or `~` that can neither open nor close emphasis or strikethrough."""
    if _is_space(before) and _is_space(after):  # flanks nothing
        return True
    # an underscore run inside a word (first_name) never delimits
    return char == "_" and before.isalnum() and after.isalnum()


def _delimiter_runs_to_escape(text: str) -> set[int]:
    """Start positions of `*`, `_` and `~` runs that could pair up into emphasis or
    strikethrough: those that flank something, when at least two of one kind exist."""
    active: dict[str, list[int]] = {}
    for match in re.finditer(r"\*+|_+|~+", text):
        start, end = match.span()
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        if not _delimiter_is_literal(text[start], before, after):
            active.setdefault(text[start], []).append(start)
    return {start for starts in active.values() if len(starts) > 1 for start in starts}


def _backtick_runs_to_escape(text: str) -> set[int]:
    """Start positions of backtick runs that a later run of the same length would close."""
    runs = [(m.start(), len(m.group())) for m in re.finditer(r"`+", text)]
    return {
        start for index, (start, length) in enumerate(runs)
        if any(later == length for _, later in runs[index + 1:])
    }


def markdown_cell(value: object, *, block_start: bool = False) -> str:
    """`value` as one line of literal text for a Markdown table cell or paragraph.

    Whitespace is collapsed to single spaces (a line break would end the table row) and
    control characters become U+FFFD (they would reach the terminal of whoever `cat`s the
    file). `block_start=True` for text that begins a block (a list item's content), where a
    leading `#`, `>`, `-`, `1.` and the like would start a heading, quote or list.
    """
    text = " ".join(str(value if value is not None else "").split())
    text = "".join("\ufffd" if unicodedata.category(c) == "Cc" else c for c in text)
    runs_to_escape = _backtick_runs_to_escape(text) | _delimiter_runs_to_escape(text)
    last_link_text_end = text.rfind("](")
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char in "*_~`":
            end = index
            while end < len(text) and text[end] == char:
                end += 1
            run = text[index:end]
            out.append("".join("\\" + c for c in run) if index in runs_to_escape else run)
            index = end
            continue
        if char == "\\":
            following = text[index + 1] if index + 1 < len(text) else ""
            out.append("\\\\" if following in _PUNCTUATION and following else "\\")
        elif char == "|":
            out.append("\\|")  # GFM: even inside a code span, only `\|` keeps the cell
        elif char == "<":
            tag = _TAG_START.match(text, index) and ">" in text[index:]
            out.append("\\<" if tag else "<")
        elif char == "&":
            out.append("\\&" if _REFERENCE.match(text, index) else "&")
        elif char == "[":
            # a link or image needs `](` later on; a lone bracket is literal
            out.append("\\[" if index < last_link_text_end else "[")
        else:
            out.append(char)
        index += 1
    result = "".join(out)
    # A trailing run of `#` after a space would close an ATX heading and vanish.
    result = re.sub(r"(^|\s)(#+)$", r"\1\\\2", result)
    if block_start and result:
        ordered = _ORDERED_MARKER.match(result)
        if ordered:
            result = ordered.group() + "\\" + result[ordered.end():]
        elif result[0] in _BLOCK_MARKERS:
            result = "\\" + result
    return result
