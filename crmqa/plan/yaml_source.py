"""Reading YAML while keeping where every key and value came from.

PyYAML composes a node tree whose nodes carry start marks; this module turns that tree into
plain Python data plus a `PositionMap` (data path -> key and value positions), and reports
syntax errors, duplicate keys and tabs as positioned `PlanIssue`s instead of exceptions.

Two deliberate departures from YAML 1.1, both to spare plan authors surprises:
- unquoted dates (`expires: 2026-12-31`) stay text, as the plan models expect;
- only `true`/`false` are booleans; `yes`, `no`, `on`, `off` stay text (`country: NO`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from crmqa.core.errors import PlanIssue, SourcePosition

DataPath = tuple[str | int, ...]

_BOOL_TAG = "tag:yaml.org,2002:bool"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _PlanYamlLoader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver and with YAML 1.2 booleans only."""


_PlanYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL_TAG, _TIMESTAMP_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PlanYamlLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True)
class NodePosition:
    """Where one value sits: its own start, and the start of the key that names it (if any)."""

    value: SourcePosition
    key: SourcePosition | None = None


@dataclass
class PositionMap:
    """Data path (keys and list indexes) -> position, for one YAML file."""

    file: str
    lines: list[str]
    positions: dict[DataPath, NodePosition] = field(default_factory=dict)

    def value(self, path: DataPath) -> SourcePosition | None:
        """Position of the value at `path`, or of its nearest ancestor that has one."""
        for depth in range(len(path), -1, -1):
            found = self.positions.get(tuple(path[:depth]))
            if found is not None:
                return found.value
        return None

    def key(self, path: DataPath) -> SourcePosition | None:
        """Position of the key naming `path` (falls back to the value, then ancestors)."""
        found = self.positions.get(tuple(path))
        if found is not None and found.key is not None:
            return found.key
        return self.value(path)

    def line(self, position: SourcePosition | None) -> str | None:
        """The source line a position points into (without its newline)."""
        if position is None or not 1 <= position.line <= len(self.lines):
            return None
        return self.lines[position.line - 1].rstrip("\r")

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
    issues: list[PlanIssue]

    @property
    def ok(self) -> bool:
        """True when the file could be read as YAML without problems."""
        return not self.issues


def _position(file: str, mark: Any) -> SourcePosition:
    return SourcePosition(file, mark.line + 1, mark.column + 1)


_SYNTAX_HINTS: tuple[tuple[str, str], ...] = (
    (
        "found character '\\t' that cannot start any token",
        "a tab character: indent YAML with spaces, never tabs",
    ),
    (
        "mapping values are not allowed here",
        "a ':' where YAML expected none: quote values that contain ': ', or check the indentation",
    ),
    (
        "could not find expected ':'",
        "missing ':' after a key, or a line that should be indented further",
    ),
    (
        "expected <block end>, but found",
        "bad indentation: this line does not line up with the keys above it",
    ),
    ("found undefined alias", "an alias (*name) with no matching anchor (&name)"),
    ("expected a single document in the stream", "more than one YAML document ('---') in one file"),
    ("found unexpected end of stream", "the file ends inside an open quote or bracket"),
    (
        "found unknown escape character",
        "an unknown escape (\\x) inside a double-quoted string: use single quotes",
    ),
    (
        "could not determine a constructor for the tag",
        "a YAML tag (!something) crmqa does not accept",
    ),
)


def _syntax_message(error: yaml.MarkedYAMLError) -> str:
    problem = (error.problem or str(error)).strip()
    context_text = (error.context or "").strip()
    if context_text.startswith("while parsing a flow") and error.context_mark is not None:
        kind, closer = ("list", "]") if "sequence" in context_text else ("mapping", "}")
        opener = "[" if closer == "]" else "{"
        return (
            f"YAML syntax: the {kind} opened with '{opener}' on line "
            f"{error.context_mark.line + 1} is not closed where expected "
            f"(a missing '{closer}' or ',')"
        )
    for needle, hint in _SYNTAX_HINTS:
        if needle in problem or needle in context_text:
            return f"YAML syntax: {hint}"
    context = f" {error.context.strip()}" if error.context else ""
    return f"YAML syntax: {problem}{context}"


class _Builder:
    """Walks a composed node tree into data, recording positions and duplicate keys."""

    def __init__(self, file: str, loader: _PlanYamlLoader, positions: PositionMap) -> None:
        self.file = file
        self.loader = loader
        self.positions = positions
        self.issues: list[PlanIssue] = []
        self._stack: list[Node] = []

    def _issue(self, message: str, mark: Any) -> None:
        position = _position(self.file, mark)
        self.issues.append(PlanIssue(message, position, None, self.positions.line(position)))

    def build(self, node: Node, path: DataPath, key_mark: Any = None) -> Any:
        self.positions.positions[path] = NodePosition(
            _position(self.file, node.start_mark),
            _position(self.file, key_mark) if key_mark is not None else None,
        )
        if any(node is seen for seen in self._stack):
            self._issue("an alias refers to itself (recursive YAML anchor)", node.start_mark)
            return None
        self._stack.append(node)
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
            return self._scalar(node)
        finally:
            self._stack.pop()

    def _scalar(self, node: Node) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as error:
            self._issue(_syntax_message(error), error.problem_mark or node.start_mark)
            return None

    def _mapping(self, node: MappingNode, path: DataPath) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        first_seen: dict[Any, int] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                self._issue("a key must be plain text, not a list or mapping", key_node.start_mark)
                continue
            key = self._scalar(key_node)
            try:
                hash(key)
            except TypeError:
                self._issue("a key must be plain text", key_node.start_mark)
                continue
            if key in first_seen:
                self._issue(
                    f"duplicate key '{key}' (first given on line {first_seen[key]})",
                    key_node.start_mark,
                )
                continue
            first_seen[key] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, (*path, key), key_node.start_mark)
        for merge in merges:  # `<<: *defaults` fills keys not given explicitly
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in sources:
                merged = self.build(source, path) if isinstance(source, MappingNode) else None
                if not isinstance(merged, dict):
                    self._issue("'<<' must merge a mapping", source.start_mark)
                    continue
                for key, value in merged.items():
                    result.setdefault(key, value)
        return result


def read_yaml(path: str | Path, *, display_name: str | None = None) -> YamlDocument:
    """Read one YAML file into data and positions; problems become issues, never exceptions.

    `display_name` is the file name put into positions (defaults to the path as given).
    An empty file yields `data=None` and no issue: callers decide what empty means.
    """
    file_path = Path(path)
    name = display_name or str(path)
    try:
        raw = file_path.read_bytes()
    except FileNotFoundError:
        return YamlDocument(
            file_path, None, PositionMap(name, []), [PlanIssue(f"file not found: {name}")]
        )
    except OSError as error:
        return YamlDocument(
            file_path,
            None,
            PositionMap(name, []),
            [PlanIssue(f"cannot read {name}: {error.strerror or error}")],
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return YamlDocument(
            file_path,
            None,
            PositionMap(name, []),
            [PlanIssue(f"{name} is not UTF-8 text (byte {error.start})")],
        )
    positions = PositionMap(name, text.splitlines())
    loader = _PlanYamlLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            if mark is not None and mark.line >= len(positions.lines) and error.context_mark:
                mark = error.context_mark  # the end of the file says little: show the opener
            position = _position(name, mark) if mark else SourcePosition(name, 1, 1)
            issue = PlanIssue(_syntax_message(error), position, None, positions.line(position))
            return YamlDocument(file_path, None, positions, [issue])
        except yaml.YAMLError as error:  # an unmarked reader error (e.g. a control character)
            return YamlDocument(file_path, None, positions, [PlanIssue(f"YAML: {error}")])
        if root is None:
            return YamlDocument(file_path, None, positions, [])
        builder = _Builder(name, loader, positions)
        data = builder.build(root, ())
        return YamlDocument(file_path, data, positions, builder.issues)
    finally:
        loader.dispose()
