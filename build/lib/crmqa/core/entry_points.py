"""Installed entry points, read once per process.

crmqa looks up six entry-point groups (plan sections, case sections, step kinds, generators,
plan rules, drivers) at start-up; each `importlib.metadata.entry_points(group=...)` call reads
the metadata of every installed distribution again, and every pytest-xdist worker pays it.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint
from importlib.metadata import entry_points as _installed
from typing import Any


@cache
def _all() -> Any:
    # Every distribution read in one pass; both what Python 3.11 returns (SelectableGroups)
    # and what 3.12 returns (EntryPoints) select a group.
    return _installed()


def entry_points(*, group: str) -> tuple[EntryPoint, ...]:
    """The installed entry points of `group`, as `importlib.metadata.entry_points` gives them."""
    return tuple(_all().select(group=group))
