"""The built-in `bottlecrm` profile, driven by crmqa's API operations against a real BottleCRM.

Each test states what the profile maps: records read back after writes (`read_back`), 403
without credentials read as unauthorized (`outcome_rules`), all-or-nothing imports in the
canonical shape, label-headed exports mapped back (`export.columns`), conversion by PATCH
(`convert.body`), and `qualified` having no equivalent. docs/targets.md explains each key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crmqa.drivers.api.auth import configure
from crmqa.drivers.api.operations import OperationRunner
from crmqa.drivers.api.redaction import Redactor
from crmqa.drivers.api.session import ApiSession
from crmqa.profiles.adapter import OperationCall, OperationResult
from crmqa.profiles.loader import load_profile
from crmqa.profiles.models import NoEquivalent, Profile
from crmqa.profiles.target import Identity, Secret

from .provision import BottleCrm

# One worker runs every BottleCRM test (`--dist loadgroup`), so one server serves them all.
pytestmark = [pytest.mark.bottlecrm, pytest.mark.slow, pytest.mark.xdist_group("bottlecrm")]

PROFILE_PATH = Path(__file__).resolve().parents[2] / "crmqa/profiles/builtin/bottlecrm.yaml"


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile(PROFILE_PATH)


class Crm:
    """Canonical operations as one identity, through the profile."""

    def __init__(self, profile: Profile, crm: BottleCrm, who: str) -> None:
        token = crm.admin_token if who == "admin" else crm.user_token
        self.session = ApiSession(crm.base_url, who, Redactor([token]), timeout_s=30)
        configure(self.session, profile.auth, Identity(name=who, token=Secret(token)))
        self.runner = OperationRunner(profile, Path.cwd())
        self.who = who

    def __call__(self, op: str, **args: Any) -> OperationResult:
        entity, operation = op.split(".")
        return self.runner.perform(OperationCall(entity, operation, args, self.who),
                                   self.session, 30)


@pytest.fixture(scope="module")
def admin(profile: Profile, bottlecrm: BottleCrm) -> Iterator[Crm]:
    yield Crm(profile, bottlecrm, "admin")


@pytest.fixture(scope="module")
def user(profile: Profile, bottlecrm: BottleCrm) -> Iterator[Crm]:
    yield Crm(profile, bottlecrm, "user")


def _rec(result: OperationResult) -> dict[str, Any]:
    assert result.record is not None, result
    return result.record


def _recs(result: OperationResult) -> list[dict[str, Any]]:
    assert result.records is not None, result
    return result.records


def _email() -> str:
    return f"p-{uuid.uuid4().hex[:10]}@example.com"


def _lead(**extra: Any) -> dict[str, Any]:
    return {"first_name": "Katherine", "last_name": "Johnson", "email": _email(),
            "company": "NACA", "title": "Mathematician", "status": "new", "source": "web",
            "notes": "orbital mechanics", **extra}


def test_create_get_update_delete_in_canonical_terms(admin: Crm, bottlecrm: BottleCrm) -> None:
    data = _lead()
    created = admin("lead.create", data=data)
    assert created.outcome == "ok"
    lead_id = _rec(created)["id"]
    assert created.created_ids == [lead_id]
    # create answers only the id; the record is read back with GET (`read_back: true`)
    assert set(created.extra["write_answer"]) == {"error", "message", "id"}
    assert {k: _rec(created)[k] for k in data} == data

    got = admin("lead.get", id=lead_id)
    assert got.outcome == "ok"
    assert {k: _rec(got)[k] for k in data} == {**data, "status": "new", "source": "web"}
    assert _rec(got)["owner"] == bottlecrm.admin_email

    updated = admin("lead.update", id=lead_id, data={"company": "NASA", "status": "contacted"})
    assert updated.outcome == "ok"
    assert "id" not in updated.extra["write_answer"]  # no record, not even the id
    again = _rec(updated)  # read back
    assert (again["company"], again["status"], again["email"]) == ("NASA", "contacted",
                                                                    data["email"])

    assert admin("lead.delete", id=lead_id).outcome == "ok"
    assert admin("lead.get", id=lead_id).outcome == "not_found"


def test_invalid_and_duplicate_are_rejected_with_canonical_field_errors(admin: Crm) -> None:
    bad = admin("lead.create", data=_lead(email="not-an-email", phone="abc"))
    assert bad.outcome == "rejected"
    assert set(bad.field_errors) == {"email", "phone"}

    data = _lead()
    assert admin("lead.create", data=data).outcome == "ok"
    duplicate = admin("lead.create", data=_lead(email=data["email"].upper()))
    assert duplicate.outcome == "rejected"  # a 400, not a 409: no `conflict` here
    assert list(duplicate.field_errors) == ["email"]

    too_long = admin("lead.create", data=_lead(company="x" * 256))
    assert too_long.field_errors == {"company": ["Ensure this field has no more than 255 "
                                                 "characters."]}


def test_search_filters_and_offset_pages(admin: Crm) -> None:
    tag = uuid.uuid4().hex[:8]
    for n in range(3):
        assert admin("lead.create", data=_lead(last_name=f"Pager{tag}", first_name=f"N{n}",
                                               status="contacted")).outcome == "ok"
    found = admin("lead.search", query=f"pager{tag}")  # case-insensitive, partial
    assert found.total == 3
    assert {r["first_name"] for r in _recs(found)} == {"N0", "N1", "N2"}
    assert all(r["status"] == "contacted" for r in _recs(found))

    page2 = admin("lead.search", query=f"pager{tag}", page=2, page_size=2)
    assert (page2.total, len(_recs(page2))) == (3, 1)
    walked = admin("lead.search", query=f"pager{tag}", page_size=2, all=True)
    assert len(_recs(walked)) == 3

    filtered = admin("lead.search", query=f"pager{tag}", filters={"source": "web"})
    assert filtered.total == 3
    none = admin("lead.search", query=f"pager{tag}", filters={"source": "referral"})
    assert none.total == 0


def test_user_sees_only_own_leads_through_the_profile(admin: Crm, user: Crm) -> None:
    theirs = _rec(admin("lead.create", data=_lead()))["id"]
    assert user("lead.get", id=theirs).outcome == "not_found"
    assert user("lead.delete", id=theirs).outcome == "not_found"
    mine = _rec(user("lead.create", data=_lead()))["id"]
    assert user("lead.get", id=mine).outcome == "ok"
    listed = {r["id"] for r in _recs(user("lead.list", page_size=100))}
    assert mine in listed
    assert theirs not in listed


def test_import_commits_all_rows_or_none(admin: Crm, user: Crm) -> None:
    rows = [_lead(first_name="Zoë", last_name="Ångström"), _lead(first_name="Lin")]
    imported = admin("lead.import", rows=rows)
    assert imported.outcome == "ok"
    assert imported.extra["imported"] == 2
    got = _rec(admin("lead.get", id=imported.extra["ids"][0]))
    assert (got["first_name"], got["last_name"], got["company"]) == ("Zoë", "Ångström", "NACA")

    mixed = admin("lead.import", rows=[_lead(), _lead(email="broken")])
    # BottleCRM answers 400 and creates nothing; canonically: imported 0, the bad row rejected
    assert mixed.status == 400
    assert mixed.extra["raw"]["errors"] == [
        {"row": 2, "field": "email", "message": "Enter a valid email address."}
    ]
    assert mixed.outcome == "ok"
    assert (mixed.extra["imported"], mixed.extra["ids"]) == (0, [])
    # BottleCRM's data row 2 is the file's line 3 (canonical rows count the header as 1)
    assert mixed.extra["rejected"] == [
        {"row": 3, "errors": {"email": ["Enter a valid email address."]}}
    ]
    assert user("lead.import", rows=[_lead()]).outcome == "forbidden"  # USER cannot import


def test_export_is_csv_with_label_headers_and_non_ascii(admin: Crm) -> None:
    data = _lead(first_name="Émilie", last_name="Du Châtelet", phone="+33 1 23 45 67 89")
    assert admin("lead.create", data=data).outcome == "ok"
    exported = admin("lead.export", query=data["email"])
    assert exported.outcome == "ok"
    [row] = _recs(exported)
    # Headers are labels ("First name"), mapped back by `export.columns`; the BOM is gone.
    assert exported.extra["content"].startswith("\ufeffID,First name,Last name,")
    assert row["first_name"] == "Émilie"
    assert row["last_name"] == "Du Châtelet"
    assert row["email"] == data["email"]
    assert row["status"] == "new"  # the label "Assigned", mapped by `export.values`
    assert row["Industry"] == ""  # columns the map does not name keep their label
    assert row["phone"] == "'+33 1 23 45 67 89"  # formula-injection guard on a leading +


def test_missing_or_unknown_token_is_unauthorized(profile: Profile, bottlecrm: BottleCrm,
                                                  user: Crm) -> None:
    runner = OperationRunner(profile, Path.cwd())
    anonymous = ApiSession(bottlecrm.base_url, "anonymous", Redactor(), timeout_s=30)
    result = runner.perform(OperationCall("lead", "list", {}, "anonymous"), anonymous, 30)
    assert (result.status, result.outcome) == (403, "unauthorized")
    stranger = ApiSession(bottlecrm.base_url, "stranger", Redactor(), timeout_s=30)
    configure(stranger, profile.auth, Identity(name="stranger",
                                               token=Secret("bcrm_pat_" + "x" * 40)))
    result = runner.perform(OperationCall("lead", "list", {}, "stranger"), stranger, 30)
    assert (result.status, result.outcome) == (403, "unauthorized")  # by the body rule
    # a 403 for a role refusal stays forbidden
    assert user("lead.import", rows=[_lead()]).outcome == "forbidden"


def test_convert_patches_the_status(admin: Crm) -> None:
    lead_id = _rec(admin("lead.create", data=_lead(company=f"Conv {uuid.uuid4().hex[:6]}")))["id"]
    converted = admin("lead.convert", id=lead_id)
    assert converted.outcome == "ok"
    assert all(_rec(converted)[key] for key in ("account_id", "contact_id", "opportunity_id"))
    again = admin("lead.convert", id=lead_id)
    assert again.outcome == "rejected"
    assert "already converted" in again.field_errors["status"][0]
    assert _rec(admin("lead.get", id=lead_id))["status"] == "converted"


def test_qualified_has_no_equivalent(admin: Crm) -> None:
    with pytest.raises(NoEquivalent, match="status 'qualified' has no equivalent"):
        admin("lead.create", data=_lead(status="qualified"))
    with pytest.raises(NoEquivalent, match="filter status 'qualified'"):
        admin("lead.search", query="x", filters={"status": "qualified"})
