"""Which records a case makes through create forms, read from the screen map alone (no browser)."""

from __future__ import annotations

from typing import Any

import pytest

from crmqa.drivers.ui.created import (
    CreateWatch,
    Creation,
    create_form_entity,
    entity_and_kind,
    forged_creations,
)
from crmqa.plan.models import UiStep
from crmqa.profiles.loader import resolve_profile
from crmqa.profiles.screens import ScreenMap

BASE = "http://crm.test"
SANDBOX = resolve_profile("sandbox").screens
# A Django-admin-like product: the add form returns to the list; edit and delete carry the id.
ADMIN = ScreenMap.model_validate({
    "lead_list": {"url": "/admin/leads/lead/", "elements": {"links": "css=th a"}},
    "lead_form": {"url": "/admin/leads/lead/add/", "elements": {
        "first_name": "label=First name", "email": "label=Email", "password": "label=Password",
        "photo": {"locator": "label=Photo", "kind": "file"}, "save": "role=button[name=Save]",
        "cancel": "role=link[name=Cancel]"}},
    "lead_edit": {"url": "/admin/leads/lead/{id}/change/", "extends": "lead_form"},
    "mail_form": {"url": "/admin/settings/mail/", "elements": {"sender": "label=Sender"}},
})


class Page:
    """Runs steps through a watch, with the URL each step leaves the page at."""

    def __init__(self, screens: ScreenMap, url: str = "about:blank") -> None:
        self.watch = CreateWatch(screens)
        self.url = url
        self.made: list[Creation] = []

    def step(self, raw: dict[str, Any], then: str | None = None, *, ok: bool = True,
             link: bool = False) -> None:
        step = UiStep.model_validate(raw)
        self.made += self.watch.before(step, self.url, lambda: link)
        if then is not None:
            self.url = BASE + then
        self.made += self.watch.after(step, self.url, ok)


def _fill(screen: str = "lead_form", **values: Any) -> dict[str, Any]:
    return {"ui": "fill", "target": screen, "values": values}


SAVE = {"ui": "click", "target": "lead_form.save"}


def test_names_and_create_forms_by_convention():
    assert entity_and_kind("lead_form") == ("lead", "form")
    assert entity_and_kind("sales_order_new") == ("sales_order", "new")
    assert entity_and_kind("login") is None
    assert create_form_entity(SANDBOX, "lead_form") == "lead"
    assert create_form_entity(SANDBOX, "lead_edit") is None  # /leads/{id}/edit changes one
    assert create_form_entity(SANDBOX, "lead_list") is None  # a list makes nothing
    assert create_form_entity(ADMIN, "mail_form") is None  # no mail record screens: settings
    assert create_form_entity(ADMIN, "nowhere") is None


def test_a_submit_that_shows_the_new_record_gives_its_id():
    page = Page(SANDBOX)
    page.step({"ui": "open", "target": "lead_form"}, "/leads/new")
    page.step(_fill(first_name="Ann", email="ann@x.test", status="new"))
    page.step(SAVE, "/leads/42")
    assert page.made == [Creation("lead", "42", {"first_name": "Ann", "email": "ann@x.test",
                                                 "status": "new"})]
    page.step({"ui": "expect_text", "target": "lead_detail.message", "value": "Lead created"})
    assert len(page.made) == 1  # tracked once


def test_a_refused_form_makes_nothing_and_a_corrected_one_counts():
    page = Page(SANDBOX, BASE + "/leads/new")
    page.step(_fill(first_name="Ann", email="not-an-email"))
    page.step(SAVE, "/leads/new")  # back with errors
    page.step({"ui": "expect_visible", "target": "lead_form.errors"})
    assert page.made == []
    page.step({"ui": "fill", "target": "lead_form.email", "value": "ann@x.test"})
    page.step(SAVE, "/leads/7")
    assert page.made == [Creation("lead", "7", {"first_name": "Ann", "email": "ann@x.test"})]


def test_leaving_a_refused_form_by_opening_another_page_makes_nothing():
    page = Page(SANDBOX, BASE + "/leads/new")
    page.step(_fill(first_name="Ann"))
    page.step(SAVE, "/leads/new")
    page.step({"ui": "open", "target": "lead_list"}, "/leads")
    page.step({"ui": "click", "target": "lead_list.links"}, "/leads/3")  # an existing lead
    assert page.made == []


def test_a_navigation_seen_only_by_a_later_step_still_counts():
    page = Page(SANDBOX, BASE + "/leads/new")
    page.step(_fill(first_name="Ann"))
    page.step(SAVE)  # a single-page app: the URL changes a moment later
    page.url = BASE + "/leads/9"
    page.step({"ui": "open", "target": "lead_list"}, "/leads")
    assert page.made == [Creation("lead", "9", {"first_name": "Ann"})]


def test_a_form_that_returns_to_a_list_keeps_the_values_entered():
    page = Page(ADMIN, BASE + "/admin/leads/lead/add/")
    page.step(_fill(first_name="Ann", email="ann@x.test", password="Secret-1",
                    photo="fixtures/face.png", teams=["a"], active=True))
    page.step(SAVE, "/admin/leads/lead/")
    # no password (results are reports), no file path, no lists or ticks
    assert page.made == [Creation("lead", None, {"first_name": "Ann", "email": "ann@x.test"})]


def test_a_plain_link_on_the_form_submits_nothing():
    page = Page(ADMIN, BASE + "/admin/leads/lead/add/")
    page.step(_fill(first_name="Ann"))
    page.step({"ui": "click", "target": "lead_form.cancel"}, "/admin/leads/lead/", link=True)
    assert page.made == []


def test_enter_in_a_field_submits():
    page = Page(SANDBOX, BASE + "/leads/new")
    page.step(_fill(first_name="Ann"))
    page.step({"ui": "press", "target": "lead_form.first_name", "value": "Enter"}, "/leads/5")
    assert page.made == [Creation("lead", "5", {"first_name": "Ann"})]


@pytest.mark.parametrize(("start", "steps"), [
    # an edit form: the record exists already
    ("/leads/4/edit", [(_fill(company="New Ltd"), None), (SAVE, "/leads/4")]),
    # a search on the list, then a click on a result
    ("/leads", [({"ui": "fill", "target": "lead_list.search", "value": "Ann"}, None),
                ({"ui": "click", "target": "lead_list.search_button"}, "/leads"),
                ({"ui": "click", "target": "lead_list.links"}, "/leads/3")]),
])
def test_what_is_not_a_create(start: str, steps: list[tuple[dict[str, Any], str | None]]):
    page = Page(SANDBOX, BASE + start)
    for raw, then in steps:
        page.step(raw, then)
    page.step({"ui": "open", "target": "lead_list"}, "/leads")
    assert page.made == []


def test_a_forged_create_the_crm_accepted_is_tracked_by_what_it_sent() -> None:
    forged = [
        {"method": "POST", "status": 303, "fields": {"first_name": "Ann", "email": "a@x.test",
                                                     "password": "secret"}},
        {"method": "POST", "status": 403, "fields": {"first_name": "Refused"}},  # made nothing
    ]
    assert forged_creations(forged, ADMIN, "lead_form") == [
        Creation("lead", None, {"first_name": "Ann", "email": "a@x.test"})]
    # an edit or a delete page's forgery changes a record, it makes none
    assert forged_creations(forged, SANDBOX, "lead_edit") == []
    assert forged_creations(forged, SANDBOX, "lead_delete") == []
