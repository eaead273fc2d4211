"""What fuzzed writes may touch, and what they created: the records of fuzzing's own.

Fuzzing writes only what the target's profile maps to canonical operations: each entity's
create, update, delete and convert (`profile_writes`). Anything else the document describes
(administration, logins, imports, bulk changes) is never sent, because crmqa could neither
tell what it changed nor undo it. A create's new record, and the records a conversion made,
are read from the answer the profile's way and handed to the engine at once, so that they are
deleted when the case ends, also after a failure; one whose id the answer does not show is
handed over without an id, and the engine reports it as left behind. Writes to an existing
record (update, delete, convert) reach only records the step created itself: generated ids
could hit other cases' records or the CRM's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crmqa.profiles.models import Profile

__all__ = ["OwnRecords", "WriteOperation", "normalized", "profile_writes"]

#: The order writes are fuzzed in: records are made first, deleted last.
ACTION_ORDER = {"create": 0, "update": 1, "convert": 2, "delete": 3}
_PARAMETER = re.compile(r"\{[^{}]*\}")


def normalized(path: str) -> str:
    """A path template with its parameters unnamed (`/api/leads/{}`), to match a profile's
    `{id}` with a document's `{record_id}`."""
    return _PARAMETER.sub("{}", "/" + path.strip("/"))


@dataclass(frozen=True)
class WriteOperation:
    """One write the profile maps: `lead.update` is PATCH /api/leads/{id}."""

    entity: str
    action: str  # create, update, delete, convert
    method: str
    path: str  # the profile's template, with {id} for the record

    @property
    def label(self) -> str:
        return f"{self.entity}.{self.action}"

    def id_positions(self) -> list[int]:
        """Segments of the path that hold the record's id."""
        return [index for index, part in enumerate(self.path.strip("/").split("/"))
                if part == "{id}"]


def profile_writes(profile: Profile) -> list[WriteOperation]:
    """Every write the profile maps to a canonical operation, in the order they are fuzzed."""
    writes: list[WriteOperation] = []
    for name, entity in profile.entities.items():
        for action in ("create", "update", "delete"):
            if action not in entity.operations:
                continue
            default = entity.collection if action == "create" else entity.item_path
            writes.append(WriteOperation(name, action, entity.method_of(action).upper(),
                                         entity.operation(action).path or default))
        if entity.convert is not None:
            path = entity.convert.path or entity.item_path.rstrip("/") + "/convert"
            if entity.convert.body is None:  # a conversion by an update is fuzzed as one
                writes.append(WriteOperation(name, "convert", entity.convert.method.upper(),
                                             path))
    return sorted(writes, key=lambda write: ACTION_ORDER[write.action])


@dataclass
class OwnRecords:
    """The writes fuzzing may send, and the records it made (handed to the engine to delete).

    `read_created(write, exchange)` gives (entity, id) of what a successful create or convert
    made; `track(entity, id)` hands one to the engine (id None: its id was not shown).
    """

    writes: list[WriteOperation]
    read_created: Callable[[WriteOperation, Any], list[tuple[str, Any]]]
    track: Callable[[str, Any], None]
    made: dict[str, list[Any]] = field(default_factory=dict)
    traced: int = 0
    untraced: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be prepared, and why

    def made_before(self, entity: str, record_id: Any) -> None:
        """A record made for fuzzing before it starts (the step's `records`), tracked already."""
        self.made.setdefault(entity, []).append(record_id)
        self.traced += 1

    def write_for(self, method: str, path: str) -> WriteOperation | None:
        """The profile's write that a document operation is, if any."""
        wanted = normalized(path)
        for write in self.writes:
            if write.method == method and normalized(write.path) == wanted:
                return write
        return None

    def path_parameters(self, write: WriteOperation, document_path: str
                        ) -> tuple[dict[str, Any] | None, str]:
        """The document's path parameters fixed to a record of fuzzing's own, or None and
        why the operation cannot be fuzzed."""
        names = document_path.strip("/").split("/")
        parameters: dict[str, Any] = {}
        for position, part in enumerate(names):
            if not _PARAMETER.fullmatch(part):
                continue
            if position not in write.id_positions():
                return None, (f"{part} is not the record's id in the profile's "
                              f"{write.label} ({write.path})")
            own = self.latest(write.entity)
            if own is None:
                return None, (f"no {write.entity} of fuzzing's own to write to (no "
                              f"{write.entity}.create answer named one): generated ids could "
                              "reach other records")
            parameters[part[1:-1]] = own
        return parameters, ""

    def latest(self, entity: str) -> Any:
        """The newest record of `entity` fuzzing made and has not deleted."""
        made = self.made.get(entity)
        return made[-1] if made else None

    def answered(self, write: WriteOperation, exchange: Any,
                 path_parameters: dict[str, Any]) -> None:
        """Take note of a successful write's answer: hand what it made to the engine, forget
        what it deleted."""
        if write.action == "delete":
            for record_id in path_parameters.values():
                made = self.made.get(write.entity, [])
                if record_id in made:
                    made.remove(record_id)
            return
        if write.action not in ("create", "convert"):
            return
        created = self.read_created(write, exchange)
        for entity, record_id in created:
            self.track(entity, record_id)
            self.made.setdefault(entity, []).append(record_id)
            self.traced += 1
        if write.action == "create" and not created:
            # Something was made that crmqa cannot find: the engine reports it as left behind.
            self.track(write.entity, None)
            self.untraced.append(f"{write.method} {write.path} answered "
                                 f"{getattr(exchange.response, 'status_code', '?')} without "
                                 "the new record's id")
