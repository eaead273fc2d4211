"""The `migrate:` step: one reconciliation check of a migrated entity.

The migration itself is the vendor's work (or the CRM's own import): crmqa reads what arrived
and compares it with the legacy data through the plan's mapping; it writes nothing.

```yaml
- id: MIG-LEAD-FIELDS
  title: Every migrated lead field equals its mapped legacy value
  category: migration
  steps:
    - migrate: {check: fields, entity: lead}
```

It registers as a step kind (crmqa.plan.step_kinds) and its driver in the driver registry,
through crmqa's own entry points, exactly as a third party's would.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from crmqa.plan.steps import StepBase, Strict

CheckName = Literal[
    "row_counts", "missing", "unexpected", "fields", "duplicates", "references",
    "text_roundtrip", "truncation", "precision", "required", "source_quality",
]
CHECKS: tuple[str, ...] = CheckName.__args__  # type: ignore[attr-defined]


class MigrationCheck(Strict):
    """What to check about one migrated entity."""

    check: CheckName = Field(
        description="row_counts, missing, unexpected, fields, duplicates, references, "
        "text_roundtrip, truncation, precision, required, source_quality"
    )
    entity: str = Field(description="a canonical entity of the plan's `migration:` section")
    fields: list[str] | None = Field(
        None, description="only these canonical fields (default: every mapped field)"
    )
    references: dict[str, str] = Field(
        default_factory=dict,
        description="for `references`: canonical field -> the entity its value must name",
    )
    max_rate: float | None = Field(
        None, ge=0, le=1,
        description="the share of records that may differ before the check fails (default 0; "
        "source_quality: 1, a report)",
    )


class MigrateStep(StepBase):
    """A reconciliation check of a data migration (see crmqa.migration)."""

    migrate: MigrationCheck = Field(description="the check and the entity it is about")

    def describe(self) -> str:
        return f"migrate {self.migrate.check} {self.migrate.entity}"

    def surfaces(self) -> set[str]:
        """Where the check looks (crmqa calibrate pairs it with the faults that touch it): the
        migrated records, which it reads through the entity's list or search."""
        entity = self.migrate.entity
        return {f"migration:{entity}", f"{entity}.list", f"{entity}.search"}
