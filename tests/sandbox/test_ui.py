"""The sandbox's web UI in headless Chromium (Debian's package, driven by Playwright):
the lead workflow a person does, keyboard use, and axe-core on the key pages."""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox_data import unique_email, unique_word

from crmqa.sandbox.testing import SandboxHandle

pytestmark = pytest.mark.slow

playwright_sync = pytest.importorskip("playwright.sync_api")
Browser = playwright_sync.Browser
Page = playwright_sync.Page
expect = playwright_sync.expect

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (set CHROMIUM_PATH)")
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[[SandboxHandle, str | None], Any]]:
    """`open_page(sandbox, "admin")`: a fresh browser context, logged in through the form."""
    contexts: list[Any] = []

    def open_(handle: SandboxHandle, username: str | None = "admin") -> Any:
        # The sandbox sends a strict CSP; axe is injected as a script tag, so bypass it.
        context = browser.new_context(base_url=handle.base_url, bypass_csp=True,
                                      accept_downloads=True)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        if username:
            login(page, username, handle.password)
        return page

    yield open_
    for context in contexts:
        context.close()


def login(page: Any, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/leads$"))


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the current page."""
    if not AXE.exists():
        pytest.skip(f"axe-core not installed at {AXE} (cd /work/main && npm install axe-core@4)")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": item["id"], "impact": item["impact"],
         "targets": [node["target"] for node in item["nodes"]]}
        for item in result["violations"] if item["impact"] in ("serious", "critical")
    ]


def test_lead_workflow_add_search_edit_delete(sandbox: SandboxHandle, open_page: Any) -> None:
    page = open_page(sandbox)
    expect(page.get_by_test_id("showing")).to_have_text(re.compile(r"^Showing 1–20 of \d+$"))
    token = unique_word("Ui")
    email = unique_email("ui")

    page.get_by_role("link", name="New lead").click()
    page.get_by_label("First name").fill("Ольга")
    page.get_by_label("Last name").fill(f"Browser{token}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Phone").fill("+7 495 000-11-22")
    page.get_by_label("Company").fill("Playwright LLC")
    page.get_by_label("Status").select_option("contacted")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Lead created")
    expect(page.get_by_test_id("field-email")).to_have_text(email)

    page.goto("/leads")
    page.get_by_label("Search").fill(token.lower())
    page.get_by_role("button", name="Search").click()
    rows = page.get_by_test_id("lead-row")
    expect(rows).to_have_count(1)
    expect(page.get_by_test_id("showing")).to_have_text("Showing 1–1 of 1")
    rows.first.get_by_role("link").click()

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Phone").fill("+7 495 999-88-77")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Lead updated")
    expect(page.get_by_test_id("field-phone")).to_have_text("+7 495 999-88-77")

    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_test_id("delete-question")).to_contain_text(f"Browser{token}")
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("Lead deleted")
    page.get_by_label("Search").fill(token)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("lead-row")).to_have_count(0)
    expect(page.get_by_test_id("showing")).to_have_text("Showing 0–0 of 0")


def test_inline_validation_errors(sandbox: SandboxHandle, open_page: Any) -> None:
    page = open_page(sandbox)
    page.goto("/leads/new")
    page.get_by_label("First name").fill("No")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Phone").fill("abc")
    page.get_by_role("button", name="Save").click()
    email = page.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description("not a valid email address")
    expect(page.get_by_test_id("error-last_name")).to_have_text("this field is required")
    expect(page.get_by_test_id("error-phone")).to_contain_text("not a valid phone number")
    expect(page.get_by_label("First name")).to_have_value("No")  # input is kept
    expect(page.get_by_role("status")).to_have_count(0)


def test_pagination_and_filters(sandbox: SandboxHandle, open_page: Any) -> None:
    page = open_page(sandbox)
    page.get_by_role("link", name="Next").click()
    expect(page.get_by_test_id("showing")).to_have_text(re.compile(r"^Showing 21–40 of \d+$"))
    page.get_by_role("link", name="Previous").click()
    expect(page.get_by_test_id("showing")).to_have_text(re.compile(r"^Showing 1–20 of \d+$"))
    page.get_by_label("Owner").select_option("sales2")
    page.get_by_label("Status").select_option("qualified")
    page.get_by_role("button", name="Search").click()
    cells = page.get_by_test_id("lead-row").locator("td:nth-child(7)")
    expect(cells.first).to_have_text("sales2")
    assert set(cells.all_inner_texts()) == {"sales2"}


def test_import_and_export(sandbox: SandboxHandle, open_page: Any, tmp_path: Path) -> None:
    page = open_page(sandbox)
    token = unique_word("imp")
    upload = tmp_path / "leads.csv"
    upload.write_text(
        "first_name,last_name,email,company\n"
        f"伟,王,{unique_email('ui-imp')},{token}\n"
        f"Bad,Row,not-an-email,{token}\n", encoding="utf-8")
    page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("status")).to_have_text("Imported 1 leads")
    rejected = page.get_by_test_id("rejected-row")
    expect(rejected).to_have_count(1)
    expect(rejected).to_contain_text("3")
    expect(rejected).to_contain_text("email: not a valid email address")

    page.goto(f"/leads/export?q={token}")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    content = Path(info.value.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(content)))
    assert rows[0][:3] == ["first_name", "last_name", "email"]
    assert [row[:2] for row in rows[1:]] == [["伟", "王"]]


def test_keyboard_only_login_and_logout(sandbox: SandboxHandle, open_page: Any) -> None:
    page = open_page(sandbox, None)
    page.goto("/login")
    page.keyboard.press("Tab")  # the skip link comes first
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type("viewer")
    page.keyboard.press("Tab")
    page.keyboard.type(sandbox.password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/leads$"))
    expect(page.get_by_role("link", name="New lead")).to_have_count(0)  # viewers read only
    page.get_by_role("button", name="Log out").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("You have logged out")
    page.goto("/leads")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_wrong_password_shows_an_alert(sandbox: SandboxHandle, open_page: Any) -> None:
    page = open_page(sandbox, None)
    page.goto("/login")
    page.get_by_label("Username").fill("sales")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Invalid username or password.")


def test_clean_pages_pass_axe_serious_and_critical(sandbox: SandboxHandle,
                                                   open_page: Any) -> None:
    page = open_page(sandbox, None)
    found: dict[str, list[dict[str, Any]]] = {}
    page.goto("/login")
    found["login"] = axe_violations(page)
    login(page, "admin", sandbox.password)
    found["list"] = axe_violations(page)
    page.goto("/leads/new")
    found["form"] = axe_violations(page)
    page.get_by_role("button", name="Save").click()  # the form with inline errors
    found["form with errors"] = axe_violations(page)
    page.goto("/leads/1")
    found["detail"] = axe_violations(page)
    page.goto("/leads/1/delete")
    found["delete"] = axe_violations(page)
    page.goto("/leads/import")
    found["import"] = axe_violations(page)
    page.goto("/leads/export")
    found["export"] = axe_violations(page)
    assert {name: issues for name, issues in found.items() if issues} == {}


def test_missing_label_fault_fails_axe_and_label_lookup(
        sandbox_factory: Callable[..., SandboxHandle], open_page: Any) -> None:
    page = open_page(sandbox_factory(["missing_label"]))
    page.goto("/leads/new")
    assert "label" in {issue["id"] for issue in axe_violations(page)}
    expect(page.get_by_label("Email", exact=True)).to_have_count(0)
    expect(page.get_by_label("Phone")).to_have_count(1)  # only the named label is gone


def test_xss_fault_turns_a_name_into_live_markup(
        sandbox_factory: Callable[..., SandboxHandle], sandbox: SandboxHandle,
        open_page: Any) -> None:
    payload = '<img src="data:," data-testid="xss-probe">Eve'
    # The detail page shows the name twice (heading and field): two live elements when faulty.
    for handle, live in ((sandbox, 0), (sandbox_factory(["xss_lead_name"]), 2)):
        page = open_page(handle)
        page.goto("/leads/new")
        page.get_by_label("First name").fill(payload)
        page.get_by_label("Last name").fill("Attacker")
        page.get_by_label("Email").fill(unique_email("xss"))
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_have_text("Lead created")
        expect(page.get_by_test_id("xss-probe")).to_have_count(live)
        if not live:
            expect(page.get_by_test_id("field-first_name")).to_have_text(payload)
