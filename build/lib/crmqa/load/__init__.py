"""Load, concurrency and capacity acceptance on Locust: the `load:` section of a case.

- `model`: the section's language (scenarios, tasks, shape, SLOs, limits, recovery), registered
  as a case section (crmqa.plan.case_sections); `rules`: its plan rules.
- `driver`: the step driver that runs a case's `load:` (registered below, as a third party's
  driver would be): probe, render the locustfile, run Locust in child processes, judge the
  SLOs, recovery and lost writes, charts, and hand every record the load created to the
  engine's clean-up.
- `locustfile` (rendering) and `runtime` (imported only inside Locust's gevent process).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crmqa.drivers.registry import DriverRegistry


def register(registry: DriverRegistry) -> None:
    """Register the load driver for the `load:` section (as a third party would)."""
    from crmqa.load.model import LoadSpec

    registry.register("load", (LoadSpec,), "crmqa.load.driver:create_load_driver",
                      check="crmqa.load.checks:check_load")
