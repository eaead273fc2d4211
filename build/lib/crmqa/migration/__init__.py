"""Data-migration acceptance: the legacy CRM's data against what arrived in the new one.

The plan's `migration:` section (crmqa.migration.spec) says where the legacy extract is, where
the migrated records are read back, and how each canonical field is made from legacy columns;
`migrate:` steps (crmqa.migration.step) run one reconciliation check each, in a DuckDB
workspace (crmqa.migration.workspace, .checks), so millions of rows are compared out of core.
Everything registers through crmqa's entry points exactly as a third party's would: the plan
section, the step kind, and the driver with its step check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmqa.plan.sections import PlanSection

if TYPE_CHECKING:
    from crmqa.drivers.registry import DriverRegistry


def plan_sections() -> list[PlanSection]:
    """The `migration:` plan section (entry point `crmqa.plan_sections`)."""
    from crmqa.migration.spec import MigrationSpec

    return [PlanSection("migration", MigrationSpec,
                        "data migration to reconcile: the legacy extract, the migrated "
                        "records and the mapping between them (docs/migration.md)")]


def step_kinds() -> list[object]:
    """The `migrate:` step kind (entry point `crmqa.step_kinds`).

    Imported here, when the registry asks, and not by crmqa.migration.step: the registry is
    read while crmqa.plan.step_kinds itself is being imported.
    """
    from crmqa.migration.step import MigrateStep
    from crmqa.plan.step_kinds import StepKind

    return [StepKind("migrate", MigrateStep)]


def register(registry: DriverRegistry) -> None:
    """The migration driver for `migrate:` steps (entry point `crmqa.drivers`)."""
    from crmqa.migration.step import MigrateStep

    registry.register("migration", (MigrateStep,),
                      "crmqa.migration.driver:create_migration_driver",
                      check="crmqa.migration.validation:check_migrate_step")
