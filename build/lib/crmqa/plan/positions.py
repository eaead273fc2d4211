"""Where every key and value of a YAML file is written: `PositionMap`.

A position is packed into one int, `line * COL + column` (both 0-based), and the position of
the key that names a value rides in the same int, `(key + 1) * KEY + value`: a plan of millions
of values keeps its positions in compact ints rather than in millions of small objects. The
map is a tree shaped like the data: for each list or mapping, the entries of its children and
the subtrees of its children that are lists or mappings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmqa.core.errors import PlanIssue, SourcePosition

__all__ = ["COL", "CUT", "KEY", "DataPath", "PositionMap", "Shadow", "source_position"]

DataPath = tuple[str | int, ...]

# A position is packed into one int (line * COL + column, both 0-based), and a value's key
# position rides in the same int ((key + 1) * KEY + value), so that a plan of millions of
# values keeps its positions in a few compact ints instead of millions of small objects.
COL = 1 << 32
KEY = 1 << 64

# Child positions of one container: (positions by key or index, subtrees of container children).
# Positions None: the first read did not record below this container (see PositionMap).
Shadow = tuple[Any, "dict[Any, Shadow] | None"]
CUT: Shadow = (None, None)

def source_position(file: str, packed: int) -> SourcePosition:
    line, column = divmod(packed, COL)
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
        self._root: int | None = None
        self._tree: Shadow | None = None
        #: reads the text again recording every position: (root entry, tree)
        self._record_all: Callable[[], tuple[int | None, Shadow | None]] | None = None

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
        if found is None and self._record_all is not None:
            self._root, self._tree = self._record_all()
            self._record_all = None
            found = self._walk(path)
        return found if found is not None else (None, 0)

    def contains(self, path: DataPath) -> bool:
        """True when the file holds a value at exactly `path`."""
        entry, depth = self._find(path)
        return entry is not None and depth == len(path)

    def value(self, path: DataPath) -> SourcePosition | None:
        """Position of the value at `path`, or of its nearest ancestor that has one."""
        entry, _ = self._find(path)
        if entry is None:
            return None
        return source_position(self.file, entry % KEY)

    def key(self, path: DataPath) -> SourcePosition | None:
        """Position of the key naming `path` (falls back to the value, then ancestors)."""
        entry, depth = self._find(path)
        if entry is not None and depth == len(path) and entry >= KEY:
            return source_position(self.file, entry // KEY - 1)
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
