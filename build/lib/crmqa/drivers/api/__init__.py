"""The API driver on requests: canonical operations through a profile, and raw requests.

Modules: `session` (one requests.Session per identity, timeouts, retries, events),
`auth` (schemes), `mapping` (canonical <-> product), `operations` (canonical operations),
`redaction` (secrets out of evidence), `driver` (the StepDriver).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crmqa.drivers.registry import DriverRegistry


def register(registry: DriverRegistry) -> None:
    """Register the API driver for `OpStep` and `RequestStep` (as a third party would)."""
    from crmqa.plan.models import OpStep, RequestStep

    registry.register("api", (OpStep, RequestStep), "crmqa.drivers.api.driver:create_api_driver",
                      check="crmqa.drivers.api.checks:check_api_step")
