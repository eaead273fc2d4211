"""The migration driver: runs `migrate:` steps in a DuckDB workspace of its worker.

The plan's `migration:` section says where the data is; the workspace is built on the first
step and kept for the worker's other steps, so each entity is read, mapped and compared once.
Migrated records are read through the CRM with the API driver's `<entity>.list` (every page),
as any other read, with its evidence; or from an extract the vendor delivered.
"""

from __future__ import annotations

from typing import Any

from crmqa.core.errors import EnvironmentProblem
from crmqa.core.results import Attachment
from crmqa.drivers.base import StepContext, StepDriver, StepOutput
from crmqa.drivers.registry import DriverEnvironment, StepDefect
from crmqa.migration.checks import csv_text, run_check
from crmqa.migration.spec import MigrationSpec, TargetTable
from crmqa.migration.step import MigrateStep
from crmqa.migration.tables import MigrationDataError
from crmqa.migration.workspace import Workspace
from crmqa.plan.models import OpStep


def plan_migration(plan: Any) -> MigrationSpec | None:
    """The plan's `migration:` section, or None."""
    section = plan.section("migration") if plan is not None else None
    return section if isinstance(section, MigrationSpec) else None


class MigrationDriver:
    """Runs `MigrateStep`s (crmqa.migration.step) for one target and worker."""

    name = "migration"

    def __init__(self, env: DriverEnvironment) -> None:
        self.env = env
        self._space: Workspace | None = None
        self._api: StepDriver | None = None
        self._ctx: StepContext | None = None

    def handles(self, step: Any) -> bool:
        return isinstance(step, MigrateStep)

    def needs(self, step: Any) -> list[str]:
        """Reading migrated records through the CRM needs its list operation."""
        spec = plan_migration(self.env.plan)
        if not isinstance(step, MigrateStep) or spec is None:
            return []
        target = spec.target.get(step.migrate.entity)
        if target is not None and target.from_ == "crm":
            return [f"{step.migrate.entity}.{_operation(target)}"]
        return []

    def run(self, step: Any, ctx: StepContext) -> StepOutput:
        assert isinstance(step, MigrateStep)
        check = step.migrate
        self._ctx = ctx
        try:
            outcome = run_check(self._workspace(), check)
        except MigrationDataError as error:
            raise StepDefect(str(error)) from None
        # first the results (one row per field, with its rate), then the first differing rows
        # of each, as tables; then every differing row, as the files in the run folder
        results = csv_text([["check", "allowed", "found", "result"]] + [
            [result.name, result.expected, result.actual, "ok" if result.ok else "FAILED"]
            for result in outcome.checks])
        attachments = [Attachment(name=f"{check.check} {check.entity}: results",
                                  mime_type="text/csv", text=results)]
        attachments += [Attachment(name=f"sample: {title}", mime_type="text/csv", text=text)
                        for title, text in outcome.samples]
        attachments += [Attachment(name=f"all rows: {title}", mime_type="text/csv",
                                   path=str(path)) for title, path in outcome.files]
        files = ", ".join(path.name for _title, path in outcome.files)
        summary = f"{check.check} {check.entity}" + (f": the rows are in {files}" if files
                                                      else "")
        return StepOutput(data=outcome.data, outcome="ok", checks=outcome.checks,
                          attachments=attachments, summary=summary)

    def cleanup(self, entity: str, record_id: Any, identity: str) -> None:
        """Reconciliation only reads: it creates nothing to clean up."""
        return None

    def close(self) -> None:
        if self._space is not None:
            self._space.close()
            self._space = None
        if self._api is not None:
            self._api.close()
            self._api = None

    # ------------------------------------------------------------------ internals

    def _workspace(self) -> Workspace:
        if self._space is None:
            spec = plan_migration(self.env.plan)
            if spec is None:
                raise MigrationDataError("the plan has no `migration:` section")
            requirements = getattr(self.env.plan, "requirements", {}) or {}
            required = {entity: [name for name, rule in rules.items() if rule.required]
                        for entity, rules in requirements.items()}
            # the console's progress lines (a long preparation says what it is doing)
            progress = getattr(self._ctx, "progress", None)
            self._space = Workspace(spec, self.env.base_dir, self.env.run_dir,
                                    self._read_records, required, progress)
        return self._space

    def _read_records(self, entity: str, target: TargetTable) -> list[dict[str, Any]]:
        """Every migrated record of `entity`, through the CRM's export, list or search."""
        if self._api is None:
            from crmqa.drivers.api.driver import create_api_driver

            self._api = create_api_driver(self.env)
        assert self._ctx is not None
        operation = _operation(target)
        arguments: dict[str, Any] = {} if operation == "export" else {"all": True}
        if target.query:
            arguments["query"] = target.query
        if target.filters:
            arguments["filters"] = target.filters
        if target.page_size is not None:
            arguments["page_size"] = target.page_size
        listing = OpStep.model_validate({"op": f"{entity}.{operation}", "with": arguments})
        output = self._api.run(listing, self._ctx)
        records = output.data.get("records") if isinstance(output.data, dict) else None
        if output.outcome != "ok" or not isinstance(records, list):
            raise EnvironmentProblem(f"could not read the migrated {entity} records: "
                                     f"{output.summary}")
        return [record for record in records if isinstance(record, dict)]


def _operation(target: TargetTable) -> str:
    """The export when the plan asks for it; else a search when the plan narrows the migrated
    records down, or the whole list."""
    if target.via == "export":
        return "export"
    return "search" if target.query or target.filters else "list"


def create_migration_driver(env: DriverEnvironment) -> MigrationDriver:
    """The registry's factory: one migration driver per engine (target and worker)."""
    return MigrationDriver(env)
