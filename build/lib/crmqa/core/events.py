"""One event per driver call, in the spirit of Locust's `events.request`.

Functional checks, load statistics, gates and the report writers can all listen to the same
stream instead of each driver reporting in its own way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DriverCall:
    kind: str  # "api", "ui", "db", "file"
    name: str  # "POST /api/leads" or "lead.create" or "click lead_form.save"
    start: float  # time.time()
    duration_ms: float
    ok: bool
    error: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


Listener = Callable[[DriverCall], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> Callable[[], None]:
    """Add a listener; returns a function that removes it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def emit(call: DriverCall) -> None:
    for listener in list(_listeners):
        listener(call)
