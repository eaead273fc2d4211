"""BottleCRM as a real target: provisioning works and the API behaves as the notes say.

See docs/bottlecrm-notes.md.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from .provision import BottleCrm

# One worker runs every BottleCRM test (`--dist loadgroup`), so one server serves them all.
pytestmark = [pytest.mark.bottlecrm, pytest.mark.slow, pytest.mark.xdist_group("bottlecrm")]


def _unique_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def _create_lead(crm: BottleCrm, who: str = "admin", **fields: str) -> str:
    payload = {"first_name": "Ada", "last_name": "Lovelace", "email": _unique_email("lead")}
    payload.update(fields)
    response = requests.post(
        f"{crm.base_url}/api/leads/", json=payload, headers=crm.headers(who), timeout=30
    )
    # BottleCRM answers a create with 200, not 201, and returns only the id.
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["error"] is False
    return str(body["id"])


def test_fixture_gives_a_running_instance_with_env_ready_values(bottlecrm: BottleCrm) -> None:
    env = bottlecrm.env()
    assert env["BOTTLECRM_BASE_URL"].startswith("http://127.0.0.1:")
    assert env["BOTTLECRM_ADMIN_TOKEN"].startswith("bcrm_pat_")
    assert env["BOTTLECRM_USER_TOKEN"].startswith("bcrm_pat_")
    assert env["BOTTLECRM_ADMIN_TOKEN"] != env["BOTTLECRM_USER_TOKEN"]
    assert "bcrm_pat_" not in repr(bottlecrm)  # tokens never printed
    health = requests.get(f"{bottlecrm.base_url}/healthz/", timeout=10)
    assert health.status_code == 200


def test_tokens_carry_the_expected_roles(bottlecrm: BottleCrm) -> None:
    users = requests.get(
        f"{bottlecrm.base_url}/api/users/", headers=bottlecrm.headers("admin"), timeout=30
    )
    assert users.status_code == 200, users.text
    roles = {
        row["user_details"]["email"]: row["role"]
        for row in users.json()["active_users"]["active_users"]
    }
    assert roles == {bottlecrm.admin_email: "ADMIN", bottlecrm.user_email: "USER"}


def test_admin_creates_reads_and_deletes_a_lead(bottlecrm: BottleCrm) -> None:
    email = _unique_email("crud")
    lead_id = _create_lead(bottlecrm, email=email, company_name="Analytical Engines")

    read = requests.get(
        f"{bottlecrm.base_url}/api/leads/{lead_id}/", headers=bottlecrm.headers(), timeout=30
    )
    assert read.status_code == 200
    record = read.json()["lead_obj"]  # the record is wrapped
    assert record["id"] == lead_id
    assert record["email"] == email
    assert record["company_name"] == "Analytical Engines"

    deleted = requests.delete(
        f"{bottlecrm.base_url}/api/leads/{lead_id}/", headers=bottlecrm.headers(), timeout=30
    )
    assert deleted.status_code == 200
    assert deleted.json() == {"error": False, "message": "Lead deleted Successfully"}
    gone = requests.get(
        f"{bottlecrm.base_url}/api/leads/{lead_id}/", headers=bottlecrm.headers(), timeout=30
    )
    assert gone.status_code == 404


def test_user_cannot_read_the_admins_lead(bottlecrm: BottleCrm) -> None:
    lead_id = _create_lead(bottlecrm, "admin")
    as_user = requests.get(
        f"{bottlecrm.base_url}/api/leads/{lead_id}/", headers=bottlecrm.headers("user"),
        timeout=30,
    )
    assert as_user.status_code == 404  # not 403: the id's existence is not confirmed
    listed = requests.get(
        f"{bottlecrm.base_url}/api/leads/", params={"limit": 100},
        headers=bottlecrm.headers("user"), timeout=30,
    )
    assert listed.status_code == 200
    ids = {lead["id"] for lead in listed.json()["open_leads"]["open_leads"]}
    assert lead_id not in ids
    own_id = _create_lead(bottlecrm, "user")
    as_owner = requests.get(
        f"{bottlecrm.base_url}/api/leads/{own_id}/", headers=bottlecrm.headers("user"),
        timeout=30,
    )
    assert as_owner.status_code == 200


def test_invalid_lead_is_a_400_with_field_errors(bottlecrm: BottleCrm) -> None:
    response = requests.post(
        f"{bottlecrm.base_url}/api/leads/",
        json={"first_name": "Bad", "last_name": "Email", "email": "not-an-email"},
        headers=bottlecrm.headers(), timeout=30,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] is True
    assert list(body["errors"]) == ["email"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer bcrm_pat_not-a-real-token"}],
    ids=["no-token", "unknown-token"],
)
def test_missing_or_bad_token_is_403_not_401(bottlecrm: BottleCrm, headers: dict[str, str]
                                             ) -> None:
    response = requests.get(f"{bottlecrm.base_url}/api/leads/", headers=headers, timeout=30)
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Organization context is required. Please login again."
    }
