"""The `depends_on` graph: its cycles (a plan error) and the order cases run in.

Both work on case ids in written order with each case's `depends_on` list; names that are not
cases of the plan and self-dependencies are left out here (other rules report them).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from graphlib import CycleError, TopologicalSorter

__all__ = ["dependency_cycles", "run_order"]


def _graph(ids: Sequence[str], depends: Sequence[Sequence[object]]) -> dict[int, list[int]]:
    """Index -> indexes it depends on (first case with an id wins, as in the plan)."""
    first: dict[str, int] = {}
    for index, case_id in enumerate(ids):
        first.setdefault(case_id, index)
    graph: dict[int, list[int]] = {}
    for index, names in enumerate(depends):
        found = [first[name] for name in names if isinstance(name, str) and name in first]
        graph[index] = [other for other in found if other != index]
    return graph


def _sorter(graph: dict[int, list[int]]) -> TopologicalSorter[int]:
    sorter: TopologicalSorter[int] = TopologicalSorter()
    for index, predecessors in graph.items():
        sorter.add(index, *predecessors)
    return sorter


def dependency_cycles(
    ids: Sequence[str], depends: Sequence[Sequence[object]]
) -> list[list[str]]:
    """Every dependency cycle once, as ids in dependency order, earliest-written id first.

    `[A, B]` means A depends on B and B on A. Found with graphlib: the cases that can run are
    taken out, and from each case left (on a cycle, or waiting on one) its dependencies are
    followed until a case repeats, so the whole search is linear in the graph's size.
    """
    graph = {index: after for index, after in _graph(ids, depends).items() if after}
    if not graph:
        return []
    sorter = _sorter(graph)
    try:
        sorter.prepare()
        return []
    except CycleError:
        pass
    ran: set[int] = set()
    while ready := sorter.get_ready():
        ran.update(ready)
        sorter.done(*ready)
    stuck = sorted(index for index in graph if index not in ran)
    visited: set[int] = set()
    cycles: list[list[str]] = []
    for start in stuck:
        if start in visited:
            continue
        trail: list[int] = []
        on_trail: dict[int, int] = {}
        node = start
        while node not in on_trail and node not in visited:
            on_trail[node] = len(trail)
            trail.append(node)
            # a case left over waits on at least one other case left over
            node = next(other for other in graph[node] if other not in ran)
        visited.update(trail)
        if node in on_trail:  # a new cycle; otherwise the trail leads into one reported
            cycle = trail[on_trail[node] :]
            first = cycle.index(min(cycle))
            cycles.append([ids[index] for index in cycle[first:] + cycle[:first]])
    return cycles


def run_order(ids: Sequence[str], depends: Sequence[Sequence[object]]) -> list[int]:
    """Indexes of the cases in a stable run order that respects `depends_on`.

    Cases keep their written order unless a dependency forces one later: of the cases whose
    dependencies have run, the earliest written runs next. Raises `graphlib.CycleError` on
    a cycle (a loaded plan has none).
    """
    sorter = _sorter(_graph(ids, depends))
    sorter.prepare()
    ready = list(sorter.get_ready())
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        sorter.done(index)
        for following in sorter.get_ready():
            heapq.heappush(ready, following)
    return order
