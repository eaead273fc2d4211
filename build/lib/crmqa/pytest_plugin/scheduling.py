"""Cases linked by `depends_on` run on one pytest-xdist worker, in order.

xdist's own `--dist loadgroup` reads `xdist_group` marks through a node id rewritten on the
worker, which pytest 9.2 no longer allows (pytest-xdist issue #1386): the marks are silently
ignored. crmqa therefore hands xdist a scheduler of its own, which knows the plan's dependency
groups and never looks at marks: every case of a group is one unit of work, sent to one
worker in collection order (which is dependency order).

The other cases are handed out in chunks of consecutive items, as xdist's `load` scheduling
does: one unit per case made a worker wait for the controller after every case (a unit is
sent only when the worker has two tests left) and made the controller's bookkeeping grow
with the square of the cases, which took more time than the cases themselves on 1,000 checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from xdist.scheduler import LoadScopeScheduling

if TYPE_CHECKING:
    from crmqa.plan.loader import LoadedPlan

MAX_CHUNK = 20  # cases in one unit of work; small enough to balance the workers at the end


def chunk_size(cases: int, workers: int) -> int:
    """Cases per unit: about four units per worker, at most MAX_CHUNK, at least one."""
    return max(1, min(MAX_CHUNK, cases // max(1, 4 * workers)))


def dependency_groups(loaded: LoadedPlan) -> dict[str, str]:
    """Case id -> group, for cases linked by depends_on (they run in order on one worker)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for loaded_case in loaded.cases:
        for dep in loaded_case.case.depends_on:
            parent.setdefault(dep, dep)
            parent.setdefault(loaded_case.case.id, loaded_case.case.id)
            parent[find(loaded_case.case.id)] = find(dep)
    return {case_id: f"deps-{find(case_id)}" for case_id in parent}


class DependencyGroupScheduling(LoadScopeScheduling):
    """Load scheduling where a plan's dependency group is one unit of work."""

    def __init__(self, config: pytest.Config, log: Any, groups: dict[str, str]) -> None:
        super().__init__(config, log)
        self._groups = groups
        self._units: dict[str, str] = {}

    def schedule(self) -> None:
        if self.collection is None and self.collection_is_completed:
            collection: list[str] = list(next(iter(self.registered_collections.values()), []))
            self._units = units_of(collection, self._groups, len(self.nodes))
        super().schedule()

    def _split_scope(self, nodeid: str) -> str:
        return self._units.get(nodeid) or self._group_of(nodeid) or nodeid

    def _group_of(self, nodeid: str) -> str | None:
        return self._groups.get(case_id_of(nodeid))


def case_id_of(nodeid: str) -> str:
    """`plan.yaml::LEAD-1[3]` -> `LEAD-1`."""
    return nodeid.rsplit("::", 1)[-1].split("[", 1)[0]


def units_of(collection: list[str], groups: dict[str, str], workers: int) -> dict[str, str]:
    """Node id -> unit of work: its dependency group, or a chunk of consecutive other cases."""
    free = [nodeid for nodeid in collection if case_id_of(nodeid) not in groups]
    size = chunk_size(len(free), workers)
    units = {nodeid: groups[case_id_of(nodeid)] for nodeid in collection
             if case_id_of(nodeid) in groups}
    units.update({nodeid: f"chunk-{index // size}" for index, nodeid in enumerate(free)})
    return units
