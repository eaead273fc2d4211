"""Cases linked by `depends_on` run on one pytest-xdist worker, in order.

xdist's own `--dist loadgroup` reads `xdist_group` marks through a node id rewritten on the
worker, which pytest 9.2 no longer allows (pytest-xdist issue #1386): the marks are silently
ignored. crmqa therefore hands xdist a scheduler of its own, which knows the plan's dependency
groups and never looks at marks: every case of a group is one unit of work, sent to one
worker in collection order (which is dependency order); every other case is a unit alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling


class DependencyGroupScheduling(LoadScopeScheduling):
    """Load scheduling where a plan's dependency group is one unit of work."""

    def __init__(self, config: pytest.Config, log: Any, groups: dict[str, str]) -> None:
        super().__init__(config, log)
        self._groups = groups

    def _split_scope(self, nodeid: str) -> str:
        case_id = nodeid.rsplit("::", 1)[-1].split("[", 1)[0]
        return self._groups.get(case_id, nodeid)
