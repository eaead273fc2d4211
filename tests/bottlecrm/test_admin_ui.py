"""The profile's screen maps find BottleCRM's Django admin in a real Chromium."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, sync_playwright

from crmqa.drivers.ui.locators import build_locator
from crmqa.profiles.loader import load_profile
from crmqa.profiles.screens import ScreenMap

from .provision import BottleCrm

# One worker runs every BottleCRM test (`--dist loadgroup`), so one server serves them all.
pytestmark = [pytest.mark.bottlecrm, pytest.mark.slow, pytest.mark.xdist_group("bottlecrm")]

PROFILE_PATH = Path(__file__).resolve().parents[2] / "crmqa/profiles/builtin/bottlecrm.yaml"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
QUIET_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def screens() -> ScreenMap:
    return load_profile(PROFILE_PATH).screens


@pytest.fixture(scope="module")
def admin_page(bottlecrm: BottleCrm, screens: ScreenMap) -> Iterator[Page]:
    """A Chromium page logged in to the Django admin through the profile's login screen."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (set CHROMIUM_PATH)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET_ARGS)
        page = browser.new_page()
        page.set_default_timeout(15_000)
        login = screens.elements_of("login")
        page.goto(bottlecrm.base_url + (screens.screen("login").url or ""))
        build_locator(page, login["username"].spec).fill(bottlecrm.admin_email)
        build_locator(page, login["password"].spec).fill(bottlecrm.admin_password)
        build_locator(page, login["submit"].spec).click()
        page.wait_for_url(f"{bottlecrm.base_url}/admin/")
        yield page
        browser.close()


def _api_lead(bottlecrm: BottleCrm, last_name: str) -> str:
    response = requests.post(
        f"{bottlecrm.base_url}/api/leads/", headers=bottlecrm.headers(), timeout=30,
        json={"first_name": "Admin", "last_name": last_name,
              "email": f"{uuid.uuid4().hex}@x.test"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def _count(page: Page, screens: ScreenMap, screen: str, element: str) -> int:
    return build_locator(page, screens.elements_of(screen)[element].spec).count()


def test_list_and_form_elements_are_each_found_once(
    admin_page: Page, bottlecrm: BottleCrm, screens: ScreenMap
) -> None:
    _api_lead(bottlecrm, "Listed")  # with no leads the admin shows no table at all
    admin_page.goto(bottlecrm.base_url + "/admin/leads/lead/")
    for element in ("new", "table", "showing"):
        assert _count(admin_page, screens, "lead_list", element) == 1, element
    assert "Leads" in build_locator(
        admin_page, screens.elements_of("lead_list")["showing"].spec).inner_text()

    admin_page.goto(bottlecrm.base_url + "/admin/leads/lead/add/")
    form = screens.elements_of("lead_form")
    for element in form:
        expected = 0 if element == "errors" or element.endswith("_error") else 1
        assert _count(admin_page, screens, "lead_form", element) == expected, element
    build_locator(admin_page, form["email"].spec).fill("not-an-email")
    build_locator(admin_page, form["save"].spec).click()
    admin_page.wait_for_load_state()
    assert "Please correct the errors below." in build_locator(
        admin_page, form["errors"].spec).inner_text()
    assert "Enter a valid email address." in build_locator(
        admin_page, form["email_error"].spec).inner_text()


def test_saving_an_api_lead_in_the_admin_needs_fields_the_api_does_not(
    admin_page: Page, bottlecrm: BottleCrm, screens: ScreenMap
) -> None:
    lead_id = _api_lead(bottlecrm, "Edit")
    admin_page.goto(f"{bottlecrm.base_url}/admin/leads/lead/{lead_id}/change/")
    edit = screens.elements_of("lead_edit")
    build_locator(admin_page, edit["first_name"].spec).fill("Edited")
    build_locator(admin_page, edit["save"].spec).click()
    admin_page.wait_for_load_state()
    # BottleCRM's admin marks close date, assignees, teams and contacts required.
    failing = admin_page.locator(".form-row:has(.errorlist)").evaluate_all(
        "rows => rows.map(r => [...r.classList].find(c => c.startsWith('field-')))"
    )
    assert failing == ["field-close_date", "field-assigned_to", "field-teams", "field-contacts"]


def test_delete_through_the_admin(admin_page: Page, bottlecrm: BottleCrm,
                                  screens: ScreenMap) -> None:
    lead_id = _api_lead(bottlecrm, "Delete")
    admin_page.goto(f"{bottlecrm.base_url}/admin/leads/lead/{lead_id}/change/")
    build_locator(admin_page, screens.elements_of("lead_change")["delete"].spec).click()
    admin_page.wait_for_url(f"**/admin/leads/lead/{lead_id}/delete/")
    build_locator(admin_page, screens.elements_of("lead_delete")["confirm"].spec).click()
    admin_page.wait_for_url(f"{bottlecrm.base_url}/admin/leads/lead/")
    message = build_locator(admin_page, screens.elements_of("lead_list")["message"].spec)
    assert message.inner_text() == "The Lead “Admin Delete” was deleted successfully."
    gone = requests.get(f"{bottlecrm.base_url}/api/leads/{lead_id}/",
                        headers=bottlecrm.headers(), timeout=30)
    assert gone.status_code == 404
