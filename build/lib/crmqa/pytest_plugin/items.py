"""Plan files become pytest collectors, plan cases become pytest items.

Only public pytest API is used (Tavern broke on pytest upgrades by importing `_pytest`).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crmqa.core.errors import PlanError
from crmqa.core.results import CaseResult, Outcome, Waiver
from crmqa.engine.engine import history_id
from crmqa.plan.loader import LoadedCase, LoadedPlan
from crmqa.plan.waivers import apply_waivers
from crmqa.pytest_plugin.allure_bridge import CaseReport
from crmqa.pytest_plugin.state import RunState, run_state
from crmqa.reports.allure_case import now_ms
from crmqa.validation import prepare_run


class PlanFile(pytest.File):
    """One acceptance plan: its cases, from the plan and all included suites."""

    loaded: LoadedPlan

    def collect(self):  # type: ignore[override]
        # The one validation `crmqa validate` and `crmqa run` use: a set-up mistake is a
        # collection error (exit 3), never a run of broken cases. Listing the cases
        # (--collect-only) needs no credentials, as `crmqa validate` needs none.
        listing = self.config.option.collectonly
        prepared = prepare_run(
            self.path, target=self.config.option.crmqa_target,
            environment=None if listing else os.environ,
        )
        self.loaded = prepared.loaded
        run_state(self.config).keep_plan(self.path, self.loaded)
        self._declared: set[str] = set()
        for loaded_case in self.loaded.dependency_order():
            case = loaded_case.case
            parameter_sets = case.parameters or [{}]
            for index, params in enumerate(parameter_sets):
                name = case.id if not case.parameters else f"{case.id}[{index}]"
                item = CaseItem.from_parent(
                    self, name=name, loaded_case=loaded_case, params=params
                )
                for marker in _markers_for(loaded_case):
                    if marker not in self._declared:
                        self._declared.add(marker)
                        self.config.addinivalue_line("markers", f"{marker}: crmqa case attribute")
                    item.add_marker(marker)
                yield item

    def repr_failure(self, excinfo, style=None):  # type: ignore[no-untyped-def, override]
        if isinstance(excinfo.value, PlanError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


def _markers_for(loaded_case: LoadedCase) -> list[str]:
    case = loaded_case.case
    names = [str(case.category), case.module, case.severity, *case.tags]
    if loaded_case.generator is not None:
        # `-m generated` selects every generated case, `-m gen_lists` one generator's
        names += ["generated", f"gen_{loaded_case.generator}"]
    return [_marker_name(n) for n in dict.fromkeys(names) if n]


def _marker_name(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in text)


class CaseFailed(AssertionError):
    """The CRM did not meet an expectation: a product defect (Allure: failed)."""


class CaseBroken(Exception):
    """crmqa, the plan or the environment broke (Allure: broken)."""


class CaseItem(pytest.Item):
    def __init__(
        self, *, loaded_case: LoadedCase, params: dict[str, Any], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.loaded_case = loaded_case
        self.params = params
        self.result: CaseResult | None = None
        # crmqa writes the case's Allure result from this (allure_bridge), not allure-pytest
        self.allure = CaseReport()

    @property
    def history(self) -> str:
        """The case's stable Allure history id: plan id + case id + parameters."""
        return history_id(self.plan_file.loaded.plan.id, self.loaded_case.case.id, self.params)

    @property
    def plan_file(self) -> PlanFile:
        assert isinstance(self.parent, PlanFile)
        return self.parent

    def runtest(self) -> None:
        state: RunState = run_state(self.config)
        case = self.loaded_case.case
        plan = self.plan_file.loaded.plan
        level = next((lv for lv in plan.scales.severity if lv.name == case.severity), None)
        self.allure.allure_severity = level.allure if level and level.allure else None
        engine, steps = state.engine_for(self.plan_file.loaded)
        self.allure.start = now_ms()
        try:
            result = apply_waivers([engine.run_case(self.loaded_case, self.params or None)],
                                   plan.waivers)[0]
        finally:
            self.allure.stop = now_ms()
            self.allure.record = steps.take()
        self.result = self.allure.result = result
        state.record(result)
        self.user_properties.append(("crmqa_outcome", result.outcome.value))
        self.user_properties.append(("crmqa_title", case.title))
        self.user_properties.append(("crmqa_history", result.history_id))
        if result.leftovers:
            self.user_properties.append(("crmqa_left_behind", result.steps[-1].message))
        if result.outcome is Outcome.PASSED:
            return
        if result.outcome is Outcome.FAILED:
            waiver = result.waiver
            if waiver is not None and _waiver_active(waiver):
                pytest.xfail(f"waived until {waiver.expires}: {waiver.reason}: {result.message}")
            raise CaseFailed(result.message)
        if result.outcome is Outcome.BROKEN:
            prefix = {
                "environment": "Environment problem: ",
                "test_defect": "Test defect: ",
            }.get(str(result.broken_kind or ""), "crmqa error: ")
            raise CaseBroken(prefix + result.message)
        label = {
            Outcome.BLOCKED: "Blocked",
            Outcome.NOT_APPLICABLE: "Not applicable",
            Outcome.SKIPPED: "Skipped",
        }[result.outcome]
        pytest.skip(f"{label}: {result.message or case.id}")

    def repr_failure(self, excinfo, style=None):  # type: ignore[no-untyped-def, override]
        if isinstance(excinfo.value, CaseFailed | CaseBroken):
            return f"{self.loaded_case.case.id} — {self.loaded_case.case.title}\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):  # type: ignore[no-untyped-def, override]
        # A generated case points at the `generate:` section that made it.
        source = self.loaded_case.source
        made_by = (f" (generated by {self.loaded_case.generator})"
                   if self.loaded_case.generator else "")
        return (Path(source.file), source.line - 1,
                f"{self.name}: {self.loaded_case.case.title}{made_by}")


def _waiver_active(waiver: Waiver) -> bool:
    # the gates are imported only when a case fails: a passing run never needs them
    from crmqa.gates import waiver_active

    return waiver_active(waiver, datetime.now(UTC).date())
