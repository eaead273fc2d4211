"""`ui: expect_csrf_protected` on a whole screen, on the real sandbox in real Chromium.

The forms are found in the page, not named by the plan: the lead's page of a qualified lead
holds the convert button and the layout's logout button, and both must be forged; an import
form's forgery carries the file the case chose (without it a refusal could be for the missing
file); a page without any form that posts has nothing to forge and is not applicable.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from crmqa.drivers.base import StepOutput
from crmqa.profiles.models import NoEquivalent
from crmqa.sandbox.testing import SandboxClient, SandboxHandle
from tests.ui.conftest import failed_messages

Run = Callable[..., list[StepOutput]]


def test_every_form_that_posts_on_a_screen_is_forged_and_refused(
        run_steps: Run, sandbox: SandboxHandle) -> None:
    token = uuid.uuid4().hex[:8]
    client = SandboxClient(sandbox, "admin")
    try:
        lead = client.post("/api/leads", json={
            "first_name": "Csrf", "last_name": f"Detail{token}", "status": "qualified",
            "email": f"csrf-{token}@example.test"}).json()
        outputs = run_steps(
            {"ui": "open", "target": "lead_detail", "values": {"id": lead["id"]}},
            {"ui": "expect_csrf_protected", "target": "lead_detail"},
            {"ui": "open", "target": "lead_import"},
            {"ui": "upload", "target": "lead_import.file",
             "value": "fixtures/leads/ui_import.csv", "values": {"unique": token}},
            {"ui": "expect_csrf_protected", "target": "lead_import"},
        )
        assert failed_messages(outputs) == []
        detail = outputs[1].data["forged"]
        assert {(f["method"], f["url"].split(sandbox.base_url)[-1]) for f in detail} == {
            ("POST", f"/leads/{lead['id']}/convert"), ("POST", "/logout")}
        assert all(400 <= f["status"] < 500 and f["left_out"] == ["csrf_token"]
                   for f in detail)
        assert len(outputs[1].checks) == 2  # one check per form, each named by its action
        upload = next(f for f in outputs[4].data["forged"] if f["url"].endswith("/import"))
        assert [name.split("=")[0] for name in upload["files"]] == ["file"]
        assert upload["files"][0].endswith("ui_import.csv") and 400 <= upload["status"] < 500
        # refused: the lead was not converted, nothing was imported
        assert client.get(f"/api/leads/{lead['id']}").json()["status"] == "qualified"
        assert client.get("/api/leads", params={"q": f"Import{token}"}).json()["total"] == 0
    finally:
        client.delete(f"/api/leads/{lead['id']}")
        client.close()


def test_a_page_without_a_form_that_posts_is_not_applicable(run_steps: Run) -> None:
    run_steps({"ui": "open", "target": "/static/style.css"})
    with pytest.raises(NoEquivalent, match="no form that changes anything"):
        run_steps({"ui": "expect_csrf_protected"})
