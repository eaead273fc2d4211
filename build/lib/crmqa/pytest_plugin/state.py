"""Per-process state of a crmqa run: the run folder, engines per plan, results on disk.

The controller (or the only process, without xdist) chooses the run id; xdist copies the
option to every worker, so all of them write into the same `reports/<run-id>/`.
"""

from __future__ import annotations

import gc
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from crmqa.core.results import CaseResult, Outcome
    from crmqa.engine import Engine
    from crmqa.plan.loader import LoadedPlan
    from crmqa.pytest_plugin.allure_bridge import CaseResultsWriter
    from crmqa.reports.allure_case import AllureSteps

_STATE_KEY = pytest.StashKey["RunState"]()


def new_run_id() -> str:
    """Sortable by time, unique across concurrent runs."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


@dataclass(eq=False)  # registered as a pytest plugin: identity, hashable
class RunState:
    config: pytest.Config
    run_id: str
    run_dir: Path
    target_override: str | None
    collection_failed: bool = False
    summary_text: str = ""
    # the cases (by Allure history id) the run concluded broken: pytest counted them failed,
    # and a failure the profile-fit rule blamed on the target became broken only at the end
    concluded_broken: set[str] = field(default_factory=set)
    planned: list[str] = field(default_factory=list)  # names of the selected case items
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    allure: CaseResultsWriter | None = None
    _engines: dict[Path, tuple[Engine, AllureSteps]] = field(default_factory=dict)
    _plans: dict[Path, LoadedPlan] = field(default_factory=dict)
    _outcomes: dict[str, Outcome] = field(default_factory=dict)
    _results_file: IO[str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Plan errors surface as collection failures, on the controller also under xdist."""
        if report.failed and report.nodeid.endswith((".yaml", ".yml")):
            self.collection_failed = True

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The cases this run is to run (without xdist; under xdist the workers collect)."""
        if session.items:
            self.planned = [item.name for item in session.items if item.nodeid.count("::")]
        # What exists now (modules, the plan, the items) lives until the session ends: out
        # of the cycle collector's sight, its full collections stop walking it again and
        # again while the cases run (on 1,000 cases they cost more than the plan's loading).
        gc.freeze()

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        """pytest-xdist: every worker collects the same items; the first list will do."""
        if not self.planned:
            self.planned = [nodeid.rsplit("::", 1)[-1] for nodeid in ids]

    def keep_plan(self, path: Path, loaded: LoadedPlan) -> None:
        """Remember the plan collection loaded, for the scheduler and the end of the run."""
        self._plans[Path(path).resolve()] = loaded

    def loaded_plan(self, path: Path) -> LoadedPlan:
        """The plan at `path` as this process loaded it (each process loads a plan once)."""
        key = Path(path).resolve()
        found = self._plans.get(key)
        if found is None:
            from crmqa.plan.loader import load_plan

            found = self._plans[key] = load_plan(path)
        return found

    def engine_for(self, loaded: LoadedPlan) -> tuple[Engine, AllureSteps]:
        """This process's engine for the plan, and the reporter that keeps its steps."""
        found = self._engines.get(loaded.path)
        if found is None:
            from crmqa.engine import Engine
            from crmqa.pytest_plugin.live import console_progress
            from crmqa.reports.allure_case import AllureSteps

            assert self.allure is not None
            steps = AllureSteps(self.allure.results_dir,
                                progress=console_progress(self.config))
            engine = Engine(
                loaded,
                self.target_override,
                self.run_dir,
                worker_id(),
                reporter=steps,
                outcome_of=self._outcomes.get,
                evidence=self.config.option.crmqa_evidence or "retain-on-failure",
            )
            found = self._engines[loaded.path] = (engine, steps)
        return found

    def record(self, result: CaseResult) -> None:
        """Append one case result to this worker's JSON-lines file (read by gates later)."""
        self._outcomes[result.case_id] = result.outcome
        with self._lock:
            if self._results_file is None:
                folder = self.run_dir / "results"
                folder.mkdir(parents=True, exist_ok=True)
                self._results_file = (folder / f"cases-{worker_id()}.jsonl").open(
                    "a", encoding="utf-8"
                )
            self._results_file.write(result.model_dump_json() + "\n")
            self._results_file.flush()

    def close(self) -> None:
        for engine, _ in self._engines.values():
            engine.close()
        self._engines.clear()
        if self._results_file is not None:
            self._results_file.close()
            self._results_file = None
        if self.allure is not None:
            self.allure.close()


def run_state(config: pytest.Config) -> RunState:
    return config.stash[_STATE_KEY]


def install_state(config: pytest.Config, state: RunState) -> None:
    config.stash[_STATE_KEY] = state


def has_state(config: pytest.Config) -> bool:
    return _STATE_KEY in config.stash
