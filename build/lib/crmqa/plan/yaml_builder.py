"""YAML events -> plain data and positions, within bounds: the loop that reads a plan.

One loop over the parser's events, without recursion, builds lists, mappings and scalars,
records positions (`positions`), resolves scalars as crmqa wants (dates stay text; only
true/false are booleans; other tags are refused), applies merge keys keeping the positions of
what was written, and checks every bound of `YamlLimits` as the events arrive.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
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

from crmqa.core.errors import PlanIssue
from crmqa.plan.positions import COL, CUT, KEY, PositionMap, Shadow, source_position

__all__ = [
    "ALL_LEVELS",
    "DEFAULT_LIMITS",
    "RECORDED_LEVELS",
    "Builder",
    "Stop",
    "YamlLimits",
    "clip",
]

#: Levels whose positions the first read records (the document, its sections, their items).
RECORDED_LEVELS = 2
ALL_LEVELS = 1 << 30


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



class Stop(Exception):
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
        self.subtrees: dict[Any, Shadow] | None = None
        self.key: Any = _NO_KEY
        self.key_pos = 0
        self.merges: list[tuple[Any, int, Shadow | None]] | None = None
        self.anchor: str | None = None
        self.before = 0

    def shadow(self) -> Shadow:
        if self.positions is None:
            return CUT
        return (self.positions, self.subtrees)


_NOT_PLAIN = (
    "YAML tag '{tag}' is not accepted: crmqa reads plain YAML (text, numbers, true/false, "
    "null, lists and mappings)"
)


class Builder:
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
        self.anchors: dict[str, tuple[Any, int, Shadow | None, int]] = {}
        self.open_anchors: set[str] = set()
        self.plain_cache: dict[str, Any] = {}
        # plain scalars that could have been numbers, nulls... and were found to be text
        # (`title`, `op`): the loop takes them as text without resolving them again
        self.plain_text: set[str] = set()
        self.written = 0  # values as written (an alias counts once)
        self.added = 0  # values aliases add beyond themselves (the data holds written + added)
        self.root: _Frame | None = None  # holds the document's value as its only item
        self.unrecorded_duplicate = False  # a duplicate key where positions were not recorded
        self.part_sizes: dict[tuple[Any, Any], int] = {}
        self.stack: list[_Frame] = []  # the containers open, the root holder first

    # ----------------------------------------------------------------- issues

    def _issue(self, message: str, packed: int, *, stop: bool = False) -> None:
        position = source_position(self.file, packed)
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
            raise Stop
        self.issues.append(PlanIssue(message, position, None, self.positions.line(position)))
        if stop:
            raise Stop

    @staticmethod
    def _pack(mark: Any) -> int:
        return int(mark.line) * COL + int(mark.column)

    def _count(self, packed: int) -> None:
        """One more value written: the bound on values per file."""
        if self.written > self.limits.max_values:  # kept in step by the loop before calling
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
                if tag == _STR:
                    self.plain_text.add(value)
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
        plain_text = self.plain_text
        no_key = _NO_KEY
        top = root
        written = 0  # kept local in the loop (self.written is brought in step before calls)
        event = get()
        while True:
            kind = type(event)
            if kind is ScalarEvent:
                written += 1
                if written > max_values:
                    self.written = written
                    self._count(self._pack(event.start_mark))
                value = event.value
                plain = event.tag is None and (
                    not event.implicit[0] or value[:1] not in resolvable or value in plain_text
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
                                    (top.key_pos + 1) * KEY + mark.line * COL + mark.column
                                )
                    else:
                        self._value(top, event)
                elif plain and event.anchor is None and (
                    len(top.value) < max_items or top.level == 2
                ):
                    top.value.append(value)
                    if top.positions is not None:
                        mark = event.start_mark
                        top.positions.append(mark.line * COL + mark.column)
                else:
                    self._value(top, event)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                mark = event.start_mark
                packed = mark.line * COL + mark.column
                written += 1
                if written > max_values:
                    self.written = written
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
                if level == 3 or event.anchor is not None:  # sizes of top-level items, anchors
                    frame.before = written + self.added - 1
                if event.anchor is not None:
                    frame.anchor = event.anchor
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
                    size = written + self.added - frame.before
                    self.anchors[frame.anchor] = (frame.value, frame.entry, shadow, size)
                if frame.level == 3:
                    self._note_part_size(stack, written + self.added - frame.before)
                key = top.key
                if top.is_map and key is _COMPLEX_KEY:
                    self._issue("a key must be plain text, not a list or mapping", top.key_pos)
                    top.key = _DISCARD
                elif top.is_map and key is not _DISCARD and key is not _MERGE_KEY:
                    top.key = no_key  # the common case, inline: a mapping's value
                    top.value[key] = frame.value
                    if top.positions is not None:
                        top.positions[key] = (top.key_pos + 1) * KEY + frame.entry
                        if top.subtrees is None:
                            top.subtrees = {}
                        top.subtrees[key] = shadow
                else:
                    self._attach(top, frame.value, frame.entry, shadow)
            elif kind is AliasEvent:
                self.written = written
                self._alias(top, event)
                written = self.written
            elif kind is DocumentEndEvent:
                break
            event = get()
        self.written = written
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
        if len(top.value) >= self.limits.max_items and top.level != 2:
            self._issue(
                f"more than {self.limits.max_items:,} items in one YAML list or mapping: "
                "a plan needs far fewer here (a generated file gone wrong?)",
                packed,
                stop=True,
            )
        top.key = key
        top.key_pos = packed

    def _first_given(self, top: _Frame, key: Any) -> str:
        if top.positions is None or key not in top.positions:
            self.unrecorded_duplicate = True  # parse_yaml reads again, recording everything
            return ""
        return f" (first given on line {(top.positions[key] // KEY - 1) // COL + 1})"

    def _attach(self, top: _Frame, value: Any, packed: int, shadow: Shadow | None) -> None:
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
                positions.append(packed % KEY)
            items.append(value)
            return
        key = top.key
        top.key = _NO_KEY
        if key is _DISCARD:
            return
        if key is _MERGE_KEY:
            if top.merges is None:
                top.merges = []
            top.merges.append((value, packed % KEY, shadow))
            return
        items[key] = value
        if positions is not None:
            positions[key] = (top.key_pos + 1) * KEY + packed % KEY
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
        self.added += size - 1
        added = self.added
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
                        (item_shadows or {}).get(index, CUT if item_positions is None else None),
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
