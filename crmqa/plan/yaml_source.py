"""Reading YAML while keeping where every key and value came from.

The parser (libyaml through PyYAML's `CParser` when it is there, PyYAML's pure-Python parser
otherwise) yields events; one loop, without recursion, turns them into plain Python data plus
a `PositionMap` (data path -> key and value positions). Syntax errors, duplicate keys, unknown
tags and hostile input become positioned `PlanIssue`s, never exceptions.

Why events rather than PyYAML's composer and constructor: the composer recurses (deep nesting
ends in RecursionError, or in C), it expands aliases without limit (an alias bomb takes
minutes and gigabytes), and it calls the Python resolver once per scalar, which makes a bare
`yaml.load` slower than this whole loop. Here every bound is checked as the events arrive:
file size, nesting depth, values added by aliases and merges, number length, problem count.

libyaml's error positions were compared with the pure parser's on the syntax-error corpus and
more: the problem marks agree (libyaml points at the backslash of a bad escape, the pure
parser at the letter after it), so errors are positioned from libyaml's marks directly.
Reader errors (control characters, binary junk) are positioned by scanning the text here,
since libyaml reports a byte offset.

Two deliberate departures from YAML 1.1, both to spare plan authors surprises:
- unquoted dates (`expires: 2026-12-31`) stay text, as the plan models expect;
- only `true`/`false` are booleans; `yes`, `no`, `on`, `off` stay text (`country: NO`).
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode
from yaml.reader import Reader

from crmqa.core.errors import PlanIssue, SourcePosition

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

DataPath = tuple[str | int, ...]

_CParser: Any
try:
    from yaml import _yaml as _libyaml

    _CParser = _libyaml.CParser
except ImportError:  # PyYAML built without libyaml: the pure-Python parser does the work
    _CParser = None

#: True when PyYAML was built with libyaml (the fast C parser is used).
LIBYAML: bool = _CParser is not None


@dataclass(frozen=True)
class YamlLimits:
    """Bounds on one YAML file, so that a runaway or hostile file is refused in milliseconds.

    - `max_bytes`: the file's size;
    - `max_depth`: lists and mappings nested in each other;
    - `max_values`: values written in the file (scalars, lists and mappings);
    - `max_items`: items of one list or keys of one mapping, except the collections right
      under the document's top level (a suite's `cases`), which only the other bounds limit;
    - `max_alias_values`: values aliases (`*name`) and merges (`<<: *name`) may add, or as
      many values as the file has written so far when that is more;
    - `max_number_length`, `max_key_length`: characters of one number, of one key;
    - `max_issues`: problems listed for one file before reading stops.
    """

    max_bytes: int = 64 * 1024 * 1024
    max_depth: int = 100
    max_values: int = 10_000_000
    max_items: int = 100_000
    max_alias_values: int = 1_000_000
    max_number_length: int = 100
    max_key_length: int = 1_000
    max_issues: int = 100


DEFAULT_LIMITS = YamlLimits()

# --------------------------------------------------------------------------- tags

_YAML = "tag:yaml.org,2002:"
_STR = _YAML + "str"
_INT = _YAML + "int"
_FLOAT = _YAML + "float"
_BOOL = _YAML + "bool"
_NULL = _YAML + "null"
_MERGE = _YAML + "merge"
_MAP = _YAML + "map"
_SEQ = _YAML + "seq"
_TIMESTAMP = _YAML + "timestamp"

# The implicit resolvers of YAML 1.1 without timestamps and without yes/no/on/off booleans.
_RESOLVERS: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_BOOL_PATTERN = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
for _first in "tTfF":
    _RESOLVERS.setdefault(_first, []).append((_BOOL, _BOOL_PATTERN))
# A plain scalar starting with any other character is text: no regex needs to run.
_RESOLVABLE_FIRST = frozenset(first for first, resolvers in _RESOLVERS.items() if resolvers)

_CONSTRUCTOR = SafeConstructor()
_SCALAR_CONSTRUCTORS: dict[str, Callable[[ScalarNode], Any]] = {
    _STR: _CONSTRUCTOR.construct_yaml_str,
    _INT: _CONSTRUCTOR.construct_yaml_int,
    _FLOAT: _CONSTRUCTOR.construct_yaml_float,
    _BOOL: _CONSTRUCTOR.construct_yaml_bool,
    _NULL: _CONSTRUCTOR.construct_yaml_null,
}
_NUMBER_TAGS = frozenset({_INT, _FLOAT})
_TAG_WORDS = {_INT: "a whole number", _FLOAT: "a number", _BOOL: "true or false", _NULL: "null"}


def _resolve_plain(value: str) -> str:
    """The tag of a plain (unquoted) scalar under crmqa's resolver choices."""
    for tag, regexp in _RESOLVERS.get(value[:1] if value else "", []):
        if regexp.match(value):
            return tag
    return _STR


def clip(value: object, limit: int = 60) -> str:
    """`value` as text, cut to `limit` characters: messages quote what a plan wrote."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _shown_tag(tag: str) -> str:
    return clip("!!" + tag[len(_YAML) :] if tag.startswith(_YAML) else tag)


# --------------------------------------------------------------------------- positions

# A position is packed into one int (line * _COL + column, both 0-based), and a value's key
# position rides in the same int ((key + 1) * _KEY + value), so that a plan of millions of
# values keeps its positions in a few compact ints instead of millions of small objects.
_COL = 1 << 32
_KEY = 1 << 64

# Child positions of one container: (positions by key or index, subtrees of container children).
# Positions None: the first read did not record below this container (see PositionMap).
_Shadow = tuple[Any, "dict[Any, _Shadow] | None"]
_CUT: _Shadow = (None, None)

#: Levels whose positions the first read records (the document, its sections, their items).
_RECORDED_LEVELS = 2
_ALL_LEVELS = 1 << 30


def _source(file: str, packed: int) -> SourcePosition:
    line, column = divmod(packed, _COL)
    return SourcePosition(file, line + 1, column + 1)


class PositionMap:
    """Data path (keys and list indexes) -> where the key and the value are written, in one file.

    Built by `read_yaml`. The first read records the positions of the document's first two
    levels only (sections, and items of top-level lists such as `cases`); the first lookup
    deeper reads the file's text again, kept for the purpose, and records everything. So a
    valid plan never pays for millions of positions, and an invalid one pays once per file.
    `PositionMap(file, lines)` makes an empty map (lookups fall back to the file's start).
    """

    def __init__(self, file: str, lines: list[str] | None = None, *, text: str = "") -> None:
        self.file = file
        self._lines = lines
        self._text = text
        self._limits = DEFAULT_LIMITS
        self._root: int | None = None
        self._tree: _Shadow | None = None
        self._unrecorded_duplicate = False

    @property
    def lines(self) -> list[str]:
        """The file's lines (split on first use: most valid plans never need them)."""
        if self._lines is None:
            self._lines = self._text.splitlines()
        return self._lines

    def _walk(self, path: DataPath) -> tuple[int | None, int] | None:
        """(entry, depth) of the deepest recorded prefix of `path`; None where cut short."""
        entry = self._root
        shadow = self._tree
        if entry is None:
            return None, 0
        for depth, element in enumerate(path):
            if shadow is None:
                return entry, depth
            positions, subtrees = shadow
            child: int | None
            if positions is None:
                return None  # not recorded by the first read
            if isinstance(positions, dict):
                try:
                    child = positions.get(element)
                except TypeError:  # an unhashable element cannot be a key
                    child = None
            elif type(element) is int and 0 <= element < len(positions):
                child = positions[element]
            else:
                child = None
            if child is None:
                return entry, depth
            entry = child
            shadow = subtrees.get(element) if subtrees else None
        return entry, len(path)

    def _find(self, path: DataPath) -> tuple[int | None, int]:
        """The packed entry of the deepest recorded prefix of `path`, and that prefix's length."""
        found = self._walk(path)
        if found is None:
            self._record_all()
            found = self._walk(path)
        return found if found is not None else (None, 0)

    def _record_all(self) -> None:
        """Read the text again, recording every position (the first deep lookup does this)."""
        builder = _Builder(self.file, self, self._limits, _ALL_LEVELS)
        parser: Any = None
        try:
            parser = _parser(self._text)
            with gc_paused():
                builder.build(parser)
        except (_Stop, yaml.YAMLError):  # the first read met the same problem and said so
            pass
        finally:
            if parser is not None:
                parser.dispose()
        root = builder.root
        if root is not None and root.positions:
            self._root = root.positions[0]
            self._tree = root.subtrees.get(0) if root.subtrees else None

    def contains(self, path: DataPath) -> bool:
        """True when the file holds a value at exactly `path`."""
        entry, depth = self._find(path)
        return entry is not None and depth == len(path)

    def value(self, path: DataPath) -> SourcePosition | None:
        """Position of the value at `path`, or of its nearest ancestor that has one."""
        entry, _ = self._find(path)
        if entry is None:
            return None
        return _source(self.file, entry % _KEY)

    def key(self, path: DataPath) -> SourcePosition | None:
        """Position of the key naming `path` (falls back to the value, then ancestors)."""
        entry, depth = self._find(path)
        if entry is not None and depth == len(path) and entry >= _KEY:
            return _source(self.file, entry // _KEY - 1)
        return self.value(path)

    def line(self, position: SourcePosition | None) -> str | None:
        """The source line a position points into (without its newline)."""
        lines = self.lines
        if position is None or not 1 <= position.line <= len(lines):
            return None
        return lines[position.line - 1].rstrip("\r")

    def issue(
        self,
        message: str,
        path: DataPath = (),
        *,
        at_key: bool = False,
        suggestion: str | None = None,
    ) -> PlanIssue:
        """A PlanIssue positioned at `path`'s value (or key), with its source line."""
        position = self.key(path) if at_key else self.value(path)
        if position is None:
            position = SourcePosition(self.file, 1, 1)
        return PlanIssue(message, position, suggestion, self.line(position))


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


# --------------------------------------------------------------------------- the builder


class _Stop(Exception):
    """A bound was hit: stop reading (the issue is already recorded)."""


_NO_KEY: Any = object()  # a mapping expecting its next key
_DISCARD: Any = object()  # the next value is read but dropped (duplicate or complex key)
_MERGE_KEY: Any = object()  # the next value is a `<<` merge source
_COMPLEX_KEY: Any = object()  # a container is being read where a key was expected


class _Frame:
    """A container being read: its value, child positions, and the key awaiting a value."""

    __slots__ = ("anchor", "before", "entry", "is_map", "key", "key_pos", "level", "merges",
                 "positions", "subtrees", "value")

    def __init__(self, value: Any, is_map: bool, entry: int, level: int, record: bool) -> None:
        self.value = value
        self.is_map = is_map
        self.entry = entry  # the packed position of this container (key included)
        self.level = level  # 1 for the document's own list or mapping
        self.positions: Any = ({} if is_map else []) if record else None
        self.subtrees: dict[Any, _Shadow] | None = None
        self.key: Any = _NO_KEY
        self.key_pos = 0
        self.merges: list[tuple[Any, int, _Shadow | None]] | None = None
        self.anchor: str | None = None
        self.before = 0

    def shadow(self) -> _Shadow:
        if self.positions is None:
            return _CUT
        return (self.positions, self.subtrees)


_NOT_PLAIN = (
    "YAML tag '{tag}' is not accepted: crmqa reads plain YAML (text, numbers, true/false, "
    "null, lists and mappings)"
)


class _Builder:
    """One pass over the event stream: data, positions, anchors and the bounds.

    Positions are recorded for values down to `record_levels` levels (see PositionMap).
    """

    def __init__(
        self, file: str, positions: PositionMap, limits: YamlLimits, record_levels: int
    ) -> None:
        self.file = file
        self.positions = positions
        self.limits = limits
        self.record_levels = record_levels
        self.issues: list[PlanIssue] = []
        # anchor name -> (value, packed value position, shadow, expanded size)
        self.anchors: dict[str, tuple[Any, int, _Shadow | None, int]] = {}
        self.open_anchors: set[str] = set()
        self.plain_cache: dict[str, Any] = {}
        self.written = 0  # values as written (an alias counts once)
        self.expanded = 0  # values as the data holds them (an alias counts its whole value)
        self.root: _Frame | None = None  # holds the document's value as its only item
        self.unrecorded_duplicate = False  # a duplicate key where positions were not recorded
        self.part_sizes: dict[tuple[Any, Any], int] = {}
        self.stack: list[_Frame] = []  # the containers open, the root holder first

    # ----------------------------------------------------------------- issues

    def _issue(self, message: str, packed: int, *, stop: bool = False) -> None:
        position = _source(self.file, packed)
        if len(self.issues) >= self.limits.max_issues:
            self.issues.append(
                PlanIssue(
                    f"more than {self.limits.max_issues} problems in this file; fix these "
                    "first (the rest are not listed)",
                    position,
                    None,
                    self.positions.line(position),
                )
            )
            raise _Stop
        self.issues.append(PlanIssue(message, position, None, self.positions.line(position)))
        if stop:
            raise _Stop

    @staticmethod
    def _pack(mark: Any) -> int:
        return int(mark.line) * _COL + int(mark.column)

    def _count(self, packed: int) -> None:
        """One more value written: the bound on values per file."""
        if self.written > self.limits.max_values:
            self._issue(
                f"more than {self.limits.max_values:,} values in one YAML file: split its cases "
                "into several suite files and include them from the plan",
                packed,
                stop=True,
            )

    # ----------------------------------------------------------------- scalars

    def _scalar(self, event: ScalarEvent, packed: int) -> Any:
        value: str = event.value
        tag = event.tag
        if tag is None:
            if not event.implicit[0] or value[:1] not in _RESOLVABLE_FIRST:
                return value
            cached = self.plain_cache.get(value, _NO_KEY)
            if cached is not _NO_KEY:
                return cached
            tag = _resolve_plain(value)
            if tag not in _SCALAR_CONSTRUCTORS:  # `<<`, `=` and the like as values are text
                tag = _STR
            problems = len(self.issues)
            result = self._construct(tag, value, packed)
            if len(value) <= 32 and len(self.issues) == problems:  # repeated numbers, nulls
                self.plain_cache[value] = result
            return result
        if tag == "!" or tag == _STR:
            return value
        if tag not in _SCALAR_CONSTRUCTORS:
            self._issue(_NOT_PLAIN.format(tag=_shown_tag(tag)), packed)
            return None
        return self._construct(tag, value, packed)

    def _construct(self, tag: str, value: str, packed: int) -> Any:
        if tag in _NUMBER_TAGS and len(value) > self.limits.max_number_length:
            self._issue(
                f"a number {len(value):,} characters long: crmqa reads numbers of at most "
                f"{self.limits.max_number_length} characters (quote it if it is text)",
                packed,
            )
            return None
        node = ScalarNode(tag, value)  # the constructors read the value only
        try:
            return _SCALAR_CONSTRUCTORS[tag](node)
        except (ValueError, KeyError, TypeError, yaml.YAMLError):
            wanted = _TAG_WORDS.get(tag, "valid")
            self._issue(f"'{clip(value, 40)}' is not {wanted} ({_shown_tag(tag)})", packed)
            return None

    # ----------------------------------------------------------------- the loop

    def build(self, parser: Any) -> Any:
        """Read one document from `parser`; returns its data (None when empty).

        The loop handles the common events inline (plain text keys and values, list items)
        and hands anything unusual to the methods below; it is the hot path of loading.
        """
        get = parser.get_event
        get()  # StreamStartEvent
        event = get()
        if isinstance(event, StreamEndEvent):
            return None
        root = _Frame([], False, 0, 0, True)
        self.root = root
        stack: list[_Frame] = [root]
        self.stack = stack
        limits = self.limits
        max_depth = limits.max_depth
        max_values = limits.max_values
        max_items = limits.max_items
        max_key_length = limits.max_key_length
        record_levels = self.record_levels
        resolvable = _RESOLVABLE_FIRST
        no_key = _NO_KEY
        top = root
        event = get()
        while True:
            kind = type(event)
            if kind is ScalarEvent:
                self.written += 1
                self.expanded += 1
                if self.written > max_values:
                    self._count(self._pack(event.start_mark))
                value = event.value
                plain = event.tag is None and (
                    not event.implicit[0] or value[:1] not in resolvable
                )
                if top.is_map:
                    if top.key is no_key:  # a key
                        if (
                            plain
                            and event.anchor is None
                            and len(value) <= max_key_length
                            and value not in top.value
                            and len(top.value) < max_items
                        ):
                            top.key = value
                            if top.positions is not None:
                                top.key_pos = self._pack(event.start_mark)
                        else:
                            self._key(top, event, self._pack(event.start_mark))
                    elif plain and event.anchor is None and top.key is not _MERGE_KEY:
                        key = top.key
                        top.key = no_key
                        if key is not _DISCARD:
                            top.value[key] = value
                            if top.positions is not None:
                                mark = event.start_mark
                                top.positions[key] = (
                                    (top.key_pos + 1) * _KEY + mark.line * _COL + mark.column
                                )
                    else:
                        self._value(top, event)
                elif plain and event.anchor is None and (
                    len(top.value) < max_items or top.level == 2
                ):
                    top.value.append(value)
                    if top.positions is not None:
                        mark = event.start_mark
                        top.positions.append(mark.line * _COL + mark.column)
                else:
                    self._value(top, event)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                mark = event.start_mark
                packed = mark.line * _COL + mark.column
                self.written += 1
                self.expanded += 1
                self._count(packed)
                level = top.level + 1
                if level > max_depth:
                    self._issue(
                        f"YAML nested deeper than {max_depth} levels: a plan needs far fewer "
                        "(a runaway bracket, or a generated file gone wrong?)",
                        packed,
                        stop=True,
                    )
                is_map = kind is MappingStartEvent
                tag = event.tag
                if tag is not None and tag != "!" and tag != (_MAP if is_map else _SEQ):
                    self._issue(_NOT_PLAIN.format(tag=_shown_tag(tag)), packed)
                if top.is_map and top.key is no_key:
                    top.key = _COMPLEX_KEY
                    top.key_pos = packed
                frame = _Frame({} if is_map else [], is_map, packed, level, level <= record_levels)
                if level == 3:  # an item of a top-level collection: its size is noted
                    frame.before = self.expanded - 1
                if event.anchor is not None:
                    frame.anchor = event.anchor
                    frame.before = self.expanded - 1
                    self.anchors.pop(event.anchor, None)
                    self.open_anchors.add(event.anchor)
                stack.append(frame)
                top = frame
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                frame = stack.pop()
                top = stack[-1]
                if frame.merges:
                    self._merge(frame)
                shadow = frame.shadow()
                if frame.anchor is not None:
                    self.open_anchors.discard(frame.anchor)
                    size = self.expanded - frame.before
                    self.anchors[frame.anchor] = (frame.value, frame.entry, shadow, size)
                if frame.level == 3:
                    self._note_part_size(stack, self.expanded - frame.before)
                if top.is_map and top.key is _COMPLEX_KEY:
                    self._issue("a key must be plain text, not a list or mapping", top.key_pos)
                    top.key = _DISCARD
                else:
                    self._attach(top, frame.value, frame.entry, shadow)
            elif kind is AliasEvent:
                self._alias(top, event)
            elif kind is DocumentEndEvent:
                break
            event = get()
        following = get()
        if isinstance(following, DocumentStartEvent):
            self._issue(
                "YAML syntax: more than one YAML document ('---') in one file",
                self._pack(following.start_mark),
            )
        return root.value[0] if root.value else None

    def _note_part_size(self, stack: list[_Frame], size: int) -> None:
        """Note the size of the item of a top-level collection just read (stack: its parents)."""
        document, collection = stack[1], stack[2]
        root_key = document.key if document.is_map else len(document.value)
        item_key = collection.key if collection.is_map else len(collection.value)
        with suppress(TypeError):  # an unhashable key is reported elsewhere
            self.part_sizes[(root_key, item_key)] = size

    def _value(self, top: _Frame, event: ScalarEvent) -> None:
        """A scalar value the loop does not handle inline (tagged, anchored, resolved...)."""
        packed = self._pack(event.start_mark)
        value = self._scalar(event, packed)
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, packed, None, 1)
        self._attach(top, value, packed, None)

    def _key(self, top: _Frame, event: ScalarEvent, packed: int) -> None:
        if event.tag is None and event.implicit[0] and event.value == "<<":
            top.key = _MERGE_KEY
            top.key_pos = packed
            return
        key = self._scalar(event, packed)
        if event.anchor is not None:
            self.anchors[event.anchor] = (key, packed, None, 1)
        self._use_key(top, key, packed)

    def _use_key(self, top: _Frame, key: Any, packed: int) -> None:
        if isinstance(key, str) and len(key) > self.limits.max_key_length:
            self._issue(
                f"a key {len(key):,} characters long: keys are names of at most "
                f"{self.limits.max_key_length:,} characters (a missing ':' or quote?)",
                packed,
            )
            top.key = _DISCARD
            return
        if key in top.value:
            self._issue(f"duplicate key '{clip(key)}'{self._first_given(top, key)}", packed)
            top.key = _DISCARD
            return
        top.key = key
        top.key_pos = packed

    def _first_given(self, top: _Frame, key: Any) -> str:
        if top.positions is None or key not in top.positions:
            self.unrecorded_duplicate = True  # parse_yaml reads again, recording everything
            return ""
        return f" (first given on line {(top.positions[key] // _KEY - 1) // _COL + 1})"

    def _attach(self, top: _Frame, value: Any, packed: int, shadow: _Shadow | None) -> None:
        items = top.value
        if len(items) >= self.limits.max_items and top.level != 2:
            self._issue(
                f"more than {self.limits.max_items:,} items in one YAML list or mapping: "
                "a plan needs far fewer here (a generated file gone wrong?)",
                packed,
                stop=True,
            )
        positions = top.positions
        if not top.is_map:
            if positions is not None:
                if shadow is not None:
                    if top.subtrees is None:
                        top.subtrees = {}
                    top.subtrees[len(items)] = shadow
                positions.append(packed % _KEY)
            items.append(value)
            return
        key = top.key
        top.key = _NO_KEY
        if key is _DISCARD:
            return
        if key is _MERGE_KEY:
            if top.merges is None:
                top.merges = []
            top.merges.append((value, packed % _KEY, shadow))
            return
        items[key] = value
        if positions is not None:
            positions[key] = (top.key_pos + 1) * _KEY + packed % _KEY
            if shadow is not None:
                if top.subtrees is None:
                    top.subtrees = {}
                top.subtrees[key] = shadow

    def _alias(self, top: _Frame, event: AliasEvent) -> None:
        packed = self._pack(event.start_mark)
        name = event.anchor or ""
        self.written += 1
        self._count(packed)
        defined = self.anchors.get(name)
        if defined is None:
            if name in self.open_anchors:
                self._issue("an alias refers to itself (recursive YAML anchor)", packed)
            else:
                self._issue(
                    "YAML syntax: an alias (*name) with no matching anchor (&name)", packed
                )
            value, value_pos, shadow, size = None, packed, None, 1
        else:
            value, value_pos, shadow, size = defined
        self.expanded += size
        added = self.expanded - self.written
        if added > max(self.limits.max_alias_values, self.written):
            self._issue(
                f"YAML aliases expand this file by more than {added:,} values at '*{name}' (an "
                f"alias bomb?): aliases and '<<' merges may add at most "
                f"{self.limits.max_alias_values:,} values, or as many as the file writes "
                "itself; write the values out instead",
                packed,
                stop=True,
            )
        if top.is_map and top.key is _NO_KEY:
            if shadow is not None:
                self._issue("a key must be plain text, not a list or mapping", packed)
                top.key = _DISCARD
            else:
                self._use_key(top, value, packed)
            return
        if top.level == 2 and size > 1:
            self._note_part_size(self.stack, size)
        self._attach(top, value, value_pos, shadow)

    def _merge(self, frame: _Frame) -> None:
        """`<<: *defaults` fills the keys not written in the mapping itself, in source order.

        Merged keys keep the positions they have inside the anchor they come from; keys
        written explicitly keep their own, and so does the merging mapping.
        """
        result: dict[Any, Any] = frame.value
        for value, packed, shadow in frame.merges or ():
            if isinstance(value, list) and shadow is not None:
                item_positions, item_shadows = shadow
                sources = [
                    (
                        item,
                        item_positions[index] if item_positions is not None else packed,
                        (item_shadows or {}).get(index, _CUT if item_positions is None else None),
                    )
                    for index, item in enumerate(value)
                ]
            else:
                sources = [(value, packed, shadow)]
            for source, source_pos, source_shadow in sources:
                if not isinstance(source, dict) or source_shadow is None:
                    self._issue("'<<' must merge a mapping (or a list of mappings)", source_pos)
                    continue
                source_positions, source_subtrees = source_shadow
                if source_positions is None:
                    frame.positions = None  # cannot tell where merged keys are: record later
                for key, item in source.items():
                    if key in result:
                        continue
                    result[key] = item
                    if frame.positions is None:
                        continue
                    frame.positions[key] = source_positions[key]
                    if source_subtrees and key in source_subtrees:
                        if frame.subtrees is None:
                            frame.subtrees = {}
                        frame.subtrees[key] = source_subtrees[key]


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
    """Read YAML `text` (named `name` in positions) into data, positions and issues."""
    document = _parse(text, name, limits, _RECORDED_LEVELS)
    if document.issues and document.positions._unrecorded_duplicate:
        # "first given on line N" needs the positions the first read did not record
        document = _parse(text, name, limits, _ALL_LEVELS)
    return document


def _parse(
    text: str, name: str, limits: YamlLimits, record_levels: int, *, pure: bool = False
) -> YamlDocument:
    positions = PositionMap(name, text=text)
    positions._limits = limits
    builder = _Builder(name, positions, limits, record_levels)
    parser: Any = None
    data: Any = None
    try:
        parser = _parser(text, pure=pure)  # the pure-Python reader checks characters right here
        data = builder.build(parser)
    except _Stop:
        data = None
    except yaml.MarkedYAMLError as error:
        lines = positions.lines
        deeper = _depth_bound_issues(error, text, name, limits, positions) if not pure else []
        if deeper:
            return YamlDocument(Path(name), None, positions, deeper)
        mark = error.problem_mark or error.context_mark
        if mark is not None and mark.line >= len(lines) and error.context_mark:
            mark = error.context_mark  # the end of the file says little: show the opener
        position = _source(name, builder._pack(mark)) if mark else SourcePosition(name, 1, 1)
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
    positions._unrecorded_duplicate = builder.unrecorded_duplicate
    return YamlDocument(Path(name), data, positions, builder.issues, builder.part_sizes)


def _depth_bound_issues(
    error: yaml.MarkedYAMLError, text: str, name: str, limits: YamlLimits, positions: PositionMap
) -> list[PlanIssue]:
    """The depth bound's own issue where libyaml gave up on deep nesting first."""
    mark = error.problem_mark
    if mark is None or "maximum nesting depth" not in (error.problem or ""):
        return []
    lines = positions.lines
    if mark.line >= len(lines):
        return []
    end = sum(len(line) + 1 for line in lines[: mark.line]) + mark.column
    if end > _PURE_RETRY_CHARS:
        return []
    retried = _parse(text[:end], name, limits, 1, pure=True)
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
