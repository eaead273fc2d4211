"""crmqa's pytest plugin (registered through the pytest11 entry point).

`pytest plans/sandbox.yaml` collects the plan's cases as items. At the end of the session the
controller reads every worker's results, updates the defect ledger, evaluates the gates, writes
the run's reports, and turns the verdict into the exit code: in this one place only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crmqa.core.errors import PlanError
from crmqa.core.languages import LANGUAGES
from crmqa.pytest_plugin.state import (
    RunState,
    has_state,
    install_state,
    is_controller,
    new_run_id,
    run_state,
)

EXIT_INTERRUPTED = 130


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("crmqa", "crmqa acceptance runs")
    group.addoption("--crmqa-target", default=None, help="run against this target of the plan")
    group.addoption("--crmqa-run-id", default=None, help="run id (default: time + random)")
    group.addoption(
        "--crmqa-reports", default="reports", help="folder for run folders (default: reports)"
    )
    group.addoption(
        "--crmqa-evidence",
        default=None,
        choices=("on", "off", "retain-on-failure"),
        help="keep requests/responses, screenshots and traces (default: retain-on-failure)",
    )
    group.addoption(
        "--crmqa-build",
        default=None,
        help="the build or version of the CRM under test (default: the plan's system.version)",
    )
    group.addoption(
        "--crmqa-live", action="store_true", help="print one line per case as it finishes"
    )
    group.addoption(
        "--crmqa-lang",
        default="en",
        choices=LANGUAGES,
        help="language of the reports (summary, verdict, Allure verdict, documents)",
    )
    # Every option carries the --crmqa- prefix: other plugins (pytest-playwright's --headed)
    # live in the same environment, and argparse refuses a name twice.
    from crmqa.load.options import add_load_options
    from crmqa.pytest_plugin.options import add_ui_options

    add_ui_options(group)
    add_load_options(group)


def looks_like_plan(path: Path) -> bool:
    """A YAML file whose top level names `targets`: a plan, not a suite or a profile."""
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:20000]
    except OSError:
        return False
    return any(line.startswith("targets:") for line in head.splitlines())


def _plan_args(config: pytest.Config) -> list[Path]:
    plans = []
    for arg in config.args:
        path = Path(arg.split("::", 1)[0])
        if path.is_file() and path.suffix in (".yaml", ".yml") and looks_like_plan(path):
            plans.append(path)
        elif path.is_dir() and path.name == "plans":
            plans.extend(p for p in sorted(path.glob("*.y*ml")) if looks_like_plan(p))
    return plans


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Activate only for runs that name plans, so ordinary test runs are left alone."""
    if not _plan_args(config):
        return
    option = config.option
    if not is_controller(config):
        # xdist does not hand a value the controller set in its own configure to workers
        option.crmqa_run_id = config.workerinput["crmqa_run_id"]  # type: ignore[attr-defined]
    elif not option.crmqa_run_id:
        option.crmqa_run_id = new_run_id()
    run_dir = Path(option.crmqa_reports) / option.crmqa_run_id
    # Workers set it too: allure-pytest configures itself before xdist's options arrive.
    if not getattr(option, "allure_report_dir", None):
        option.allure_report_dir = str(run_dir / "allure-results")
    if is_controller(config):
        run_dir.mkdir(parents=True, exist_ok=True)
        if not getattr(option, "xmlpath", None):
            option.xmlpath = str(run_dir / "junit.xml")
        # UI and load options travel to xdist workers through the environment they inherit.
        from crmqa.load.options import export_load_options
        from crmqa.pytest_plugin.options import export_ui_options

        export_ui_options(option)
        export_load_options(option)
    if option.crmqa_live and is_controller(config):
        from crmqa.pytest_plugin.live import LiveProgress

        config.pluginmanager.register(LiveProgress(config), "crmqa-live")
    state = RunState(
        config=config,
        run_id=option.crmqa_run_id,
        run_dir=run_dir,
        target_override=option.crmqa_target,
    )
    from crmqa.pytest_plugin.allure_bridge import CaseResultsWriter

    state.allure = CaseResultsWriter(config)
    install_state(config, state)
    config.pluginmanager.register(state, "crmqa-run-state")
    config.pluginmanager.register(state.allure, "crmqa-allure")


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """allure-pytest has set itself up by now: it keeps the ordinary tests, crmqa its cases."""
    if has_state(session.config):
        from crmqa.pytest_plugin.allure_bridge import leave_cases_to_crmqa

        leave_cases_to_crmqa(session.config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker writes into the controller's run folder."""
    if has_state(node.config):
        node.workerinput["crmqa_run_id"] = node.config.option.crmqa_run_id


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist: keep each dependency group on one worker, in order (see scheduling)."""
    if not has_state(config) or config.getvalue("dist") not in ("load", "loadgroup"):
        return None
    # not from items: the controller runs no case and must not import the engine
    from crmqa.pytest_plugin.scheduling import DependencyGroupScheduling, dependency_groups

    groups: dict[str, str] = {}
    state = run_state(config)
    for plan in _plan_args(config):
        groups.update(dependency_groups(state.loaded_plan(plan)))
    return DependencyGroupScheduling(config, log, groups)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not has_state(parent.config):
        return None
    if file_path.suffix in (".yaml", ".yml") and looks_like_plan(file_path):
        from crmqa.pytest_plugin.items import PlanFile

        return PlanFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if not has_state(config):
        return
    state = run_state(config)
    state.close()
    if not is_controller(config):
        return
    if state.collection_failed:
        session.exitstatus = PlanError.exit_code
        return
    if exitstatus == pytest.ExitCode.USAGE_ERROR or config.option.collectonly:
        return
    from crmqa.pytest_plugin.finish import finish_run

    # Ctrl-C still writes what was done, but says it was interrupted, not a verdict.
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    code = finish_run(state, _plan_args(config), interrupted=interrupted)
    if interrupted:
        state.summary_text += (
            "\nInterrupted: the reports cover only the cases that finished; "
            "this is not a verdict.\n"
        )
        code = EXIT_INTERRUPTED
    session.exitstatus = code


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not has_state(config) or not is_controller(config):
        return
    state = run_state(config)
    if state.collection_failed:
        terminalreporter.write_line(
            "The plan is invalid (see the errors above); nothing was run.", red=True, bold=True
        )
    elif state.summary_text:
        terminalreporter.write(state.summary_text)
    if state.concluded_broken:
        from crmqa.pytest_plugin.finish import recount

        recount(terminalreporter.stats, state.concluded_broken)
        # pytest works out which counts its last line shows when a new one appears; a count
        # added afterwards is shown only once it does so again (private, so only if there)
        refresh = getattr(terminalreporter, "_set_main_color", None)
        if callable(refresh):
            refresh()

