"""The UI driver: Playwright steps on per-CRM screen maps, with evidence on failure.

`UiDriver(target, options)` (crmqa.drivers.ui.driver) runs `ui:` steps; `UiOptions`
(crmqa.drivers.ui.options) holds the browser settings the pytest plugin and the CLI fill from
the command line (see docs/ui.md). Playwright is imported only when a UI driver is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmqa.drivers.ui.options import UiOptions, UiOptionsError

if TYPE_CHECKING:
    from crmqa.drivers.registry import DriverRegistry

__all__ = ["UiOptions", "UiOptionsError", "register"]


def register(registry: DriverRegistry) -> None:
    """Register the UI driver for `UiStep` (as a third party would)."""
    from crmqa.plan.models import UiStep

    registry.register("ui", (UiStep,), "crmqa.drivers.ui.driver:create_ui_driver",
                      check="crmqa.drivers.ui.checks:check_ui_step")
