"""The UI driver on the real sandbox in real Chromium: actions, checks, evidence, errors."""

from __future__ import annotations

import subprocess
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crmqa.core.errors import EnvironmentProblem
from crmqa.drivers.base import StepOutput
from crmqa.drivers.ui.browser import UiLoginError
from crmqa.drivers.ui.driver import UiDriver
from crmqa.drivers.ui.options import CHROMIUM_ARGS, UiOptions
from crmqa.drivers.ui.targets import UiStepError, UiTarget
from crmqa.plan.models import UiStep
from crmqa.profiles.models import NoEquivalent
from crmqa.sandbox.testing import SandboxHandle, free_port
from tests.ui.conftest import ROOT, CaseContext, FolderEvidence, failed_messages, sandbox_ui_target

Run = Callable[..., list[StepOutput]]
CSV_COLUMNS = ["first_name", "last_name", "email", "phone", "company", "title", "status",
               "source", "owner", "notes"]


def test_add_a_lead_through_the_form_and_delete_it(run_steps: Run) -> None:
    token = uuid.uuid4().hex[:10]
    outputs = run_steps(
        {"ui": "open", "target": "lead_form"},
        {"ui": "fill", "target": "lead_form", "values": {
            "first_name": "Zoë", "last_name": f"Drv{token}", "email": f"drv.{token}@example.test",
            "status": "qualified"}},
        {"ui": "click", "target": "lead_form.save"},
        {"ui": "expect_text", "target": "lead_detail.message", "value": "Lead created"},
        {"ui": "expect_text", "target": "lead_detail.first_name", "value": "Zoë"},
        {"ui": "expect_url", "target": "lead_detail"},
    )
    assert failed_messages(outputs) == []
    after_save = outputs[2].data
    assert after_save["screen"] == "lead_detail" and after_save["params"]["id"].isdigit()
    assert outputs[3].data["text"] == "Lead created"
    lead_id = after_save["params"]["id"]
    deleted = run_steps(
        {"ui": "open", "target": "lead_delete", "values": {"id": lead_id}},
        {"ui": "click", "target": "lead_delete.confirm"},
        {"ui": "expect_text", "target": "lead_list.message", "value": "Lead deleted"},
        {"ui": "open", "target": "lead_detail", "values": {"id": lead_id}},
    )
    assert failed_messages(deleted) == []
    assert deleted[-1].data["status"] == 404


def test_each_case_starts_on_a_fresh_page(run_steps: Run, ui_driver: UiDriver,
                                          tmp_path: Path) -> None:
    first = run_steps({"ui": "open", "target": "lead_list"})
    assert first[0].data["screen"] == "lead_list"
    other = CaseContext(case_id="UI-TEST-FRESH", evidence=FolderEvidence(tmp_path))
    output = ui_driver.run(UiStep(ui="expect_url", value="about:blank"), other)
    assert [c.ok for c in output.checks] == [True]
    # ... and still logged in: the stored session is reused, no second login page
    opened = ui_driver.run(UiStep(ui="open", target="lead_list"), other)
    assert opened.data["screen"] == "lead_list"


def test_failed_expectations_say_what_was_there(run_steps: Run) -> None:
    outputs = run_steps(
        {"ui": "open", "target": "lead_list"},
        {"ui": "expect_count", "target": "lead_list.rows", "value": 3, "timeout_s": 1},
        {"ui": "expect_text", "target": "lead_list.showing", "value": "Showing 99", "timeout_s": 1},
        {"ui": "expect_hidden", "target": "lead_list.table", "timeout_s": 1},
        {"ui": "expect_url", "value": "/contacts", "timeout_s": 1},
        stop_on_failure=False,
    )
    messages = failed_messages(outputs)
    assert len(messages) == 4
    assert "expected 3 element(s)" in messages[0] and "found 20" in messages[0]
    assert 'expected text "Showing 99"' in messages[1] and "Showing 1" in messages[1]
    assert "is still visible" in messages[2]
    assert "/leads" in messages[3]
    assert all(any(a.mime_type == "image/png" for a in o.attachments) for o in outputs[1:])


def test_download_reads_the_csv(run_steps: Run) -> None:
    outputs = run_steps(
        {"ui": "open", "target": "lead_export"},
        {"ui": "download", "target": "lead_export.download", "value": "first_name,last_name"},
    )
    assert failed_messages(outputs) == []
    data = outputs[1].data
    assert data["filename"].endswith(".csv")
    assert data["header"] == CSV_COLUMNS
    assert len(data["rows"]) >= 20 and all("@" in row["email"] for row in data["rows"])
    assert Path(data["path"]).read_bytes().decode("utf-8-sig") == data["content"]


def test_upload_fills_placeholders_and_shows_rejected_rows(run_steps: Run) -> None:
    token = f"t{uuid.uuid4().hex[:8]}"
    outputs = run_steps(
        {"ui": "open", "target": "lead_import"},
        {"ui": "upload", "target": "lead_import.file", "value": "fixtures/leads/ui_import.csv",
         "values": {"unique": token}},
        {"ui": "click", "target": "lead_import.submit"},
        {"ui": "expect_text", "target": "lead_import.imported_count", "value": "/^1$/"},
        {"ui": "expect_count", "target": "lead_import.rejected_rows", "value": 2},
        {"ui": "open", "target": "lead_list", "values": {"q": f"Import{token}"}},
        {"ui": "click", "target": "lead_list.links"},
        {"ui": "click", "target": "lead_detail.delete"},
        {"ui": "click", "target": "lead_delete.confirm"},
    )
    assert failed_messages(outputs) == []
    uploaded = next(Path(p) for p in (ROOT / "fixtures").rglob("ui_import.csv"))
    assert "${unique}" in uploaded.read_text()  # the fixture itself stays a template


def test_csrf_on_a_page_without_a_form_that_posts_is_not_applicable(run_steps: Run) -> None:
    # `expect_csrf_protected` on a whole screen forges every form on it that posts (see
    # tests/e2e/test_fuzz_writes_and_csrf.py); a page without one has nothing to forge.
    run_steps({"ui": "open", "target": "/static/style.css"})
    with pytest.raises(NoEquivalent, match="no form that changes anything"):
        run_steps({"ui": "expect_csrf_protected"})


def test_plan_mistakes_are_errors_not_failures(run_steps: Run) -> None:
    with pytest.raises(UiStepError, match="did you mean 'email'"):
        run_steps({"ui": "fill", "target": "lead_form.emial", "value": "x"})
    with pytest.raises(UiStepError, match="needs values for id"):
        run_steps({"ui": "open", "target": "lead_detail"})
    with pytest.raises(UiStepError, match=r"file to upload: data file .* not found"):
        run_steps({"ui": "upload", "target": "lead_import.file", "value": "fixtures/none.csv"})


@pytest.mark.slow
def test_lost_label_fails_in_time_naming_screen_element_locator(
    sandbox_factory: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    handle = sandbox_factory(["missing_label"])
    driver = UiDriver(sandbox_ui_target(handle), UiOptions(timeout_s=2.0), base_dir=ROOT)
    context = CaseContext(case_id="UI-LABEL", evidence=FolderEvidence(tmp_path))
    try:
        driver.run(UiStep(ui="open", target="lead_form"), context)
        started = time.perf_counter()
        output = driver.run(UiStep(ui="fill", target="lead_form.email", value="a@b.test"), context)
        elapsed = time.perf_counter() - started
    finally:
        driver.close()
    assert elapsed < 2.0 + 3.0  # the step's bound plus evidence, never a hang
    [check] = output.checks
    assert not check.ok
    for part in ('screen "lead_form"', 'element "email"', "label=Email", "within 2 s"):
        assert part in check.message
    by_name = {a.name.split(":")[0]: a for a in output.attachments}
    shot = Path(by_name["screenshot"].path or "")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert by_name["page URL"].text is not None and by_name["page URL"].text.endswith("/leads/new")
    with zipfile.ZipFile(by_name["playwright trace"].path or "") as trace:
        assert any(name.endswith(".trace") for name in trace.namelist())


def test_trace_on_keeps_every_case_trace_in_that_case_folder(sandbox: SandboxHandle,
                                                             tmp_path: Path) -> None:
    """`--crmqa-trace on`: a passing case's trace is written when the next case starts (or
    the driver closes), into the case's own folder; the next case is not broken by it."""
    driver = UiDriver(sandbox_ui_target(sandbox), UiOptions(trace="on", timeout_s=5.0))
    first = CaseContext(case_id="UI-TRACE-1", evidence=FolderEvidence(tmp_path / "one"))
    second = CaseContext(case_id="UI-TRACE-2", evidence=FolderEvidence(tmp_path / "two"))
    try:
        driver.run(UiStep(ui="open", target="lead_list"), first)
        opened = driver.run(UiStep(ui="open", target="lead_list"), second)
        assert opened.data["screen"] == "lead_list"
    finally:
        driver.close()
    for folder, case_id in ((tmp_path / "one", "UI-TRACE-1"), (tmp_path / "two", "UI-TRACE-2")):
        trace = folder / "evidence" / f"{case_id}-default-trace.zip"
        with zipfile.ZipFile(trace) as archive:
            assert any(name.endswith(".trace") for name in archive.namelist())


def test_login_failure_names_the_user_never_the_password(sandbox: SandboxHandle,
                                                         tmp_path: Path) -> None:
    good = sandbox_ui_target(sandbox)
    wrong = UiTarget(base_url=good.base_url, screens=good.screens,
                     credentials=lambda identity: ("sales", "not-the-Secret-9"), name="sandbox")
    driver = UiDriver(wrong, UiOptions(timeout_s=2.0))
    context: Any = CaseContext(case_id="UI-LOGIN", evidence=FolderEvidence(tmp_path))
    try:
        with pytest.raises(UiLoginError) as caught:
            driver.run(UiStep(ui="open", target="lead_list"), context)
    finally:
        driver.close()
    assert "'sales'" in str(caught.value)
    assert "not-the-Secret-9" not in str(caught.value)


@pytest.mark.slow
def test_a_remote_browser_by_url(sandbox: SandboxHandle, tmp_path: Path) -> None:
    """`--browser-url http://…` drives a browser someone else started (DevTools endpoint)."""
    port = free_port()
    browser = subprocess.Popen(
        ["/usr/bin/chromium", "--headless=new", f"--remote-debugging-port={port}",
         "--remote-debugging-address=127.0.0.1", f"--user-data-dir={tmp_path / 'profile'}",
         *CHROMIUM_ARGS, "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/json/version", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("the remote Chromium did not open its DevTools endpoint")
                time.sleep(0.2)
        options = UiOptions(browser_url=endpoint, chromium_path="/nowhere", timeout_s=5.0)
        driver = UiDriver(sandbox_ui_target(sandbox), options)
        context = CaseContext(case_id="UI-REMOTE", evidence=FolderEvidence(tmp_path))
        try:
            output = driver.run(UiStep(ui="open", target="lead_list"), context)
            shown = driver.run(UiStep(ui="expect_visible", target="lead_list.table"), context)
        finally:
            driver.close()
        assert output.data["screen"] == "lead_list"
        assert [c.ok for c in shown.checks] == [True]
    finally:
        browser.terminate()
        browser.wait(timeout=10)


def test_video_without_ffmpeg_is_a_clear_environment_problem(sandbox: SandboxHandle,
                                                             tmp_path: Path) -> None:
    driver = UiDriver(sandbox_ui_target(sandbox), UiOptions(video=True, timeout_s=3.0))
    context = CaseContext(case_id="UI-VIDEO", evidence=FolderEvidence(tmp_path))
    try:
        output = driver.run(UiStep(ui="open", target="lead_list"), context)
    except EnvironmentProblem as exc:  # the usual case here: no ffmpeg for Playwright
        assert "needs Playwright's ffmpeg" in str(exc) and "without --video" in str(exc)
        assert "install" not in str(exc)  # never the hint to download a browser build
        return
    finally:
        driver.close()
    # ffmpeg is set up on this machine: the video is recorded, and offered on failure
    assert output.data["screen"] == "lead_list"


def test_the_form_reports_the_lead_it_made_and_the_delete_screen_removes_it(
        ui_driver: UiDriver, tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:10]
    context = CaseContext(case_id="UI-TRACK", evidence=FolderEvidence(tmp_path))
    values = {"first_name": "Trk", "last_name": f"Trk{token}", "email": f"trk.{token}@example.test"}
    for raw in ({"ui": "open", "target": "lead_form"},
                {"ui": "fill", "target": "lead_form", "values": values},
                {"ui": "click", "target": "lead_form.save"},
                {"ui": "expect_text", "target": "lead_detail.message", "value": "Lead created"}):
        ui_driver.run(UiStep.model_validate(raw), context)
    [(entity, lead_id, identity)] = context.created
    assert (entity, identity) == ("lead", "default") and lead_id.isdigit()
    assert context.values == [values]
    assert ui_driver.can_delete("lead") and not ui_driver.can_delete("contact")
    ui_driver.cleanup("lead", lead_id, "admin")
    ui_driver.cleanup("lead", lead_id, "admin")  # already gone: fine
    gone = ui_driver.run(UiStep.model_validate(
        {"ui": "open", "target": "lead_detail", "values": {"id": lead_id}}), context)
    assert gone.data["status"] == 404
    ui_driver.end_case()
