"""Reading YAML files while keeping where every key and value came from.

The parser (libyaml through PyYAML's `CParser` when it is there, PyYAML's pure-Python parser
otherwise) yields events; `yaml_builder` turns them, in one loop without recursion, into plain
Python data plus a `PositionMap` (data path -> key and value positions). Syntax errors,
duplicate keys, unknown tags and hostile input become positioned `PlanIssue`s, never
exceptions.

Why events rather than PyYAML's composer and constructor: the composer recurses (deep nesting
ends in RecursionError, or in C), it expands aliases without limit (an alias bomb takes
minutes and gigabytes), and it calls the Python resolver once per scalar, which makes a bare
`yaml.load` slower than this whole loop. Here every bound is checked as the events arrive.

libyaml's error positions were compared with the pure parser's on the syntax-error corpus and
more: the problem marks agree (libyaml points at the backslash of a bad escape, the pure
parser at the letter after it), so errors are positioned from libyaml's marks directly. The
one exception: libyaml scans deep flow nesting ahead and gives up at 1,000 levels, so the
pure parser, run on the text up to there, finds where the depth bound is crossed. Reader
errors (control characters, binary junk) are positioned by scanning the text here, since
libyaml reports a byte offset.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.reader import Reader

from crmqa.core.errors import PlanIssue, SourcePosition
from crmqa.plan.positions import DataPath, PositionMap, source_position
from crmqa.plan.yaml_builder import (
    ALL_LEVELS,
    DEFAULT_LIMITS,
    RECORDED_LEVELS,
    Builder,
    Stop,
    YamlLimits,
    clip,
)

__all__ = [
    "DEFAULT_LIMITS",
    "LIBYAML",
    "DataPath",
    "PositionMap",
    "YamlDocument",
    "YamlLimits",
    "clip",
    "gc_paused",
    "parse_yaml",
    "read_yaml",
]

_CParser: Any
try:
    from yaml import _yaml as _libyaml

    _CParser = _libyaml.CParser
except ImportError:  # PyYAML built without libyaml: the pure-Python parser does the work
    _CParser = None

#: True when PyYAML was built with libyaml (the fast C parser is used).
LIBYAML: bool = _CParser is not None


@dataclass
class YamlDocument:
    """A YAML file read into plain data, with positions and the problems met on the way."""

    path: Path
    data: Any
    positions: PositionMap
    issues: list[PlanIssue] = field(default_factory=list)
    #: (top-level key, item key or index) -> values in that item, keys included and aliases
    #: expanded, for the list and mapping items of top-level collections (not for scalars)
    part_sizes: dict[tuple[Any, Any], int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the file could be read as YAML without problems."""
        return not self.issues


# --------------------------------------------------------------------------- syntax errors

_SYNTAX_HINTS: tuple[tuple[str, str], ...] = (
    ("found character '\\t' that cannot start any token", "a tab character: indent YAML with "
     "spaces, never tabs"),
    ("found a tab character", "a tab character: indent YAML with spaces, never tabs"),
    ("mapping values are not allowed", "a ':' where YAML expected none: quote values that "
     "contain ': ', or check the indentation"),
    ("could not find expected ':'", "missing ':' after a key, or a line that should be "
     "indented further"),
    ("expected <block end>, but found", "bad indentation: this line does not line up with the "
     "keys above it"),
    ("did not find expected key", "bad indentation: this line does not line up with the keys "
     "above it"),
    ("did not find expected '-' indicator", "bad indentation: this line does not line up with "
     "the list items above it"),
    ("found unexpected end of stream", "the file ends inside an open quote or bracket"),
    ("found unknown escape character", "an unknown escape (\\x) inside a double-quoted string: "
     "use single quotes"),
    ("did not find expected node content", "a value is missing here"),
    ("expected the node content", "a value is missing here"),
    ("exceeded maximum nesting depth", "nesting too deep: a plan needs far fewer levels"),
)


def _character_at(lines: list[str], mark: Any) -> str:
    if mark is None or not 0 <= mark.line < len(lines):
        return ""
    line = lines[mark.line]
    return line[mark.column] if 0 <= mark.column < len(line) else ""


def _syntax_message(error: yaml.MarkedYAMLError, lines: list[str]) -> str:
    problem = (error.problem or str(error)).strip()
    context_text = (error.context or "").strip()
    flow = ("while parsing a flow sequence", "while parsing a flow mapping")
    if context_text.startswith(flow) and error.context_mark is not None:
        kind, opener, closer = (
            ("list", "[", "]") if "sequence" in context_text else ("mapping", "{", "}")
        )
        return (
            f"YAML syntax: the {kind} opened with '{opener}' on line "
            f"{error.context_mark.line + 1} is not closed where expected "
            f"(a missing '{closer}' or ',')"
        )
    if (
        "mapping values are not allowed" in problem
        and error.problem_mark is not None
        and error.problem_mark.column > 1024
    ):
        return (
            "YAML syntax: a key longer than 1024 characters (YAML's limit for a key written "
            "without '? '), or a ':' inside a long value: quote the value"
        )
    if "cannot start any token" in problem:
        character = _character_at(lines, error.problem_mark)
        if character == "\t":
            return "YAML syntax: a tab character: indent YAML with spaces, never tabs"
        if character:
            return (
                f"YAML syntax: '{character}' cannot start a value: quote the value "
                "('@' and '`' are reserved in YAML)"
            )
    for needle, hint in _SYNTAX_HINTS:
        if needle in problem or needle in context_text:
            return f"YAML syntax: {hint}"
    context = f" {context_text}" if context_text else ""
    return f"YAML syntax: {problem}{context}"


def _offset_position(file: str, text: str, offset: int) -> SourcePosition:
    line_start = text.rfind("\n", 0, offset) + 1
    return SourcePosition(file, text.count("\n", 0, offset) + 1, offset - line_start + 1)


def _reader_issue(file: str, text: str, positions: PositionMap) -> PlanIssue:
    """A control or other non-YAML character, positioned by finding it (libyaml gives bytes)."""
    found = Reader.NON_PRINTABLE.search(text)
    if found is None:  # cannot happen for a reader error; say what is known
        return PlanIssue("YAML: the file holds characters YAML does not allow")
    position = _offset_position(file, text, found.start())
    code = f"U+{ord(found.group()):04X}"
    return PlanIssue(
        f"YAML: the character {code} is not allowed in YAML text (a control character: is this "
        "a binary file? write such characters as \\u escapes in a double-quoted string)",
        position,
        None,
        positions.line(position),
    )


# --------------------------------------------------------------------------- parsers


class _PureParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's pure-Python reader, scanner and parser: events, no composer."""

    def __init__(self, text: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


def _parser(text: str, *, pure: bool = False) -> Any:
    """An event parser for `text`: libyaml when available (and not switched off by tests)."""
    if _CParser is not None and _USE_LIBYAML and not pure:
        return _CParser(text)
    return _PureParser(text)


# libyaml scans a flow collection ahead of its events and gives up at 1,000 levels, far past
# the depth bound: the pure parser, run on the text up to there, finds where the bound is hit.
# It is slow, so only for a prefix this long.
_PURE_RETRY_CHARS = 1024 * 1024


_USE_LIBYAML = True  # tests switch this off to run the pure-Python fallback


# --------------------------------------------------------------------------- entry points


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large, acyclic data.

    Every few hundred allocations CPython's collector walks the objects alive, so building
    millions of values (a big plan, then its models) spends most of its time collecting
    nothing: plan data has no reference cycles. Re-entrant; restores the previous state.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()



def parse_yaml(text: str, name: str, *, limits: YamlLimits = DEFAULT_LIMITS) -> YamlDocument:
    """Read YAML `text` (named `name` in positions) into data, positions and issues.

    Positions are recorded for the first levels; the map reads the text again, recording
    everything, on its first deeper lookup (most valid plans never make one).
    """
    document, unrecorded_duplicate = _parse(text, name, limits, RECORDED_LEVELS)
    if document.issues and unrecorded_duplicate:
        # "first given on line N" needs the positions the first read did not record
        document, _ = _parse(text, name, limits, ALL_LEVELS)
    return document


def _record_everything(text: str, name: str, limits: YamlLimits) -> tuple[int | None, Any]:
    """(root entry, tree) of a PositionMap recording every position of `text`."""
    with gc_paused():
        document, _ = _parse(text, name, limits, ALL_LEVELS)
    return document.positions._root, document.positions._tree


def _parse(
    text: str, name: str, limits: YamlLimits, record_levels: int, *, pure: bool = False
) -> tuple[YamlDocument, bool]:
    """The document read from `text`, and whether a duplicate key was met where positions
    were not recorded (its message then lacks the line of the first one)."""
    positions = PositionMap(name, text=text)
    if record_levels < ALL_LEVELS:
        positions._record_all = lambda: _record_everything(text, name, limits)
    builder = Builder(name, positions, limits, record_levels)
    parser: Any = None
    data: Any = None
    try:
        parser = _parser(text, pure=pure)  # the pure-Python reader checks characters right here
        data = builder.build(parser)
    except Stop:
        data = None
    except yaml.MarkedYAMLError as error:
        lines = positions.lines
        deeper = _depth_bound_issues(error, text, name, limits, positions) if not pure else []
        if deeper:
            return YamlDocument(Path(name), None, positions, deeper), False
        mark = error.problem_mark or error.context_mark
        if mark is not None and mark.line >= len(lines) and error.context_mark:
            mark = error.context_mark  # the end of the file says little: show the opener
        position = (
            source_position(name, builder._pack(mark)) if mark else SourcePosition(name, 1, 1)
        )
        builder.issues.append(
            PlanIssue(_syntax_message(error, lines), position, None, positions.line(position))
        )
        data = None
    except yaml.reader.ReaderError:
        builder.issues.append(_reader_issue(name, text, positions))
        data = None
    except yaml.YAMLError as error:  # any other parser complaint, worded as PyYAML words it
        builder.issues.append(PlanIssue(f"YAML: {error}", SourcePosition(name, 1, 1)))
        data = None
    finally:
        if parser is not None:
            parser.dispose()
    root = builder.root
    if data is not None and root is not None and root.positions:
        positions._root = root.positions[0]
        positions._tree = root.subtrees.get(0) if root.subtrees else None
    document = YamlDocument(Path(name), data, positions, builder.issues, builder.part_sizes)
    return document, builder.unrecorded_duplicate


def _depth_bound_issues(
    error: yaml.MarkedYAMLError, text: str, name: str, limits: YamlLimits, positions: PositionMap
) -> list[PlanIssue]:
    """The depth bound's own issue where libyaml gave up on deep nesting first."""
    mark = error.problem_mark
    if mark is None or "maximum nesting depth" not in (error.problem or ""):
        return []
    start = 0
    for _ in range(mark.line):
        start = text.find("\n", start) + 1
        if start == 0:
            return []
    end = start + mark.column
    if end > _PURE_RETRY_CHARS:
        return []
    retried, _ = _parse(text[:end], name, limits, 1, pure=True)
    return [
        PlanIssue(issue.message, issue.position, issue.suggestion, positions.line(issue.position))
        for issue in retried.issues
        if "nested deeper" in issue.message
    ]


def _size_text(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB" if size >= 1024 * 1024 else f"{size:,} bytes"


def read_yaml(
    path: str | Path, *, display_name: str | None = None, limits: YamlLimits = DEFAULT_LIMITS
) -> YamlDocument:
    """Read one YAML file into data and positions; problems become issues, never exceptions.

    `display_name` is the file name put into positions (defaults to the path as given).
    An empty file yields `data=None` and no issue: callers decide what empty means.
    """
    file_path = Path(path)
    name = display_name or str(path)

    def failed(issue: PlanIssue) -> YamlDocument:
        return YamlDocument(file_path, None, PositionMap(name, []), [issue])

    try:
        with file_path.open("rb") as handle:
            raw = handle.read(limits.max_bytes + 1)  # never more than the bound, whatever it is
    except FileNotFoundError:
        return failed(PlanIssue(f"file not found: {name}"))
    except OSError as error:
        return failed(PlanIssue(f"cannot read {name}: {error.strerror or error}"))
    if len(raw) > limits.max_bytes:
        try:
            size = file_path.stat().st_size
        except OSError:
            size = len(raw)
        shown = _size_text(size) if size > limits.max_bytes else "larger than that"
        return failed(
            PlanIssue(
                f"{name} is {shown}; crmqa reads YAML files of at most "
                f"{_size_text(limits.max_bytes)}: split its cases into several suite files and "
                "include them from the plan (include: [suites/part-1.yaml, "
                "suites/part-2.yaml, ...])",
                SourcePosition(name, 1, 1),
            )
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line_start = raw.rfind(b"\n", 0, error.start) + 1
        column = len(raw[line_start : error.start].decode("utf-8", "replace")) + 1
        position = SourcePosition(name, raw.count(b"\n", 0, error.start) + 1, column)
        return failed(
            PlanIssue(
                f"{name} is not UTF-8 text (byte {error.start}): a binary file, or text saved "
                "in another encoding? Save it as UTF-8",
                position,
            )
        )
    with gc_paused():
        document = parse_yaml(text, name, limits=limits)
    document.path = file_path
    return document
