"""Roles and the other entities over real HTTP: who may see and change what, case workflow,
users, lockout and reset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sandbox_data import new_lead, unique_word

from crmqa.sandbox.testing import SandboxClient, SandboxHandle

Clients = Callable[[str | None], SandboxClient]

ENTITY_SAMPLES: dict[str, dict[str, object]] = {
    "contacts": {"first_name": "Кира", "last_name": "Smith", "email": "kira@example.com",
                 "phone": "+1 555 100 2000"},
    "accounts": {"name": "Globex 株式会社", "industry": "energy", "phone": "+81 3 1234 5678"},
    "opportunities": {"name": "Big deal", "stage": "proposal", "amount": 12500.5,
                      "close_date": "2026-03-31"},
    "cases": {"subject": "Cannot export", "type": "complaint", "priority": "high",
              "description": "Export button does nothing"},
}
INVALID_SAMPLES: dict[str, tuple[dict[str, object], str]] = {
    "contacts": ({"first_name": "A", "last_name": "B", "email": "nope"}, "email"),
    "accounts": ({"industry": "no name"}, "name"),
    "opportunities": ({"name": "x", "amount": -5, "close_date": "31/12/2026"}, "amount"),
    "cases": ({"subject": "x", "type": "praise"}, "type"),
}


@pytest.mark.parametrize("plural", sorted(ENTITY_SAMPLES))
def test_entity_crud(admin: SandboxClient, plural: str) -> None:
    payload = ENTITY_SAMPLES[plural]
    created = admin.post(f"/api/{plural}", json=payload)
    assert created.status_code == 201, created.text
    record = created.json()
    for key, value in payload.items():
        assert record[key] == value
    assert admin.get(f"/api/{plural}/{record['id']}").json() == record
    listed = admin.get(f"/api/{plural}", params={"page_size": 100}).json()
    assert record["id"] in [item["id"] for item in listed["items"]]
    assert listed["total"] >= len(listed["items"]) > 1
    first_field = next(iter(payload))
    changed = admin.patch(f"/api/{plural}/{record['id']}", json={first_field: "Changed"})
    assert changed.status_code == 200 and changed.json()[first_field] == "Changed"
    assert admin.delete(f"/api/{plural}/{record['id']}").status_code == 204
    assert admin.get(f"/api/{plural}/{record['id']}").status_code == 404


@pytest.mark.parametrize("plural", ["leads", "contacts"])
def test_a_deleted_records_id_is_never_given_to_a_new_one(admin: SandboxClient,
                                                          plural: str) -> None:
    payload = new_lead() if plural == "leads" else ENTITY_SAMPLES[plural]
    first = admin.post(f"/api/{plural}", json=payload).json()
    assert admin.delete(f"/api/{plural}/{first['id']}").status_code == 204
    second = admin.post(f"/api/{plural}", json=new_lead() if plural == "leads" else payload)
    assert second.status_code == 201 and second.json()["id"] > first["id"]
    assert admin.get(f"/api/{plural}/{first['id']}").status_code == 404


def test_ids_and_pages_beyond_any_record_are_refused_not_server_errors(
        admin: SandboxClient) -> None:
    huge = 10 ** 25  # beyond SQLite's integers: binding it would raise
    assert admin.get(f"/api/contacts/{huge}").status_code == 404
    assert admin.get(f"/api/users/{huge}").status_code == 404
    assert admin.delete(f"/api/contacts/{huge}").status_code == 404
    answer = admin.get("/api/leads", params={"page": huge})
    assert answer.status_code == 422 and "page" in answer.json()["errors"]


@pytest.mark.parametrize("plural", sorted(INVALID_SAMPLES))
def test_entity_validation(admin: SandboxClient, plural: str) -> None:
    payload, field = INVALID_SAMPLES[plural]
    response = admin.post(f"/api/{plural}", json=payload)
    assert response.status_code == 422
    assert field in response.json()["errors"]


def test_opportunity_date_format_is_checked(admin: SandboxClient) -> None:
    response = admin.post("/api/opportunities", json={"name": "x", "close_date": "31/12/2026"})
    assert response.status_code == 422
    assert "date" in response.json()["errors"]["close_date"][0]


def test_case_status_workflow(admin: SandboxClient) -> None:
    case = admin.post("/api/cases", json={"subject": "Workflow", "type": "inquiry"}).json()
    assert case["status"] == "new"
    skip = admin.patch(f"/api/cases/{case['id']}", json={"status": "closed"})
    assert skip.status_code == 422 and "in_progress" in skip.json()["errors"]["status"][0]
    for status in ("in_progress", "resolved", "closed"):
        step = admin.patch(f"/api/cases/{case['id']}", json={"status": status})
        assert step.status_code == 200 and step.json()["status"] == status
    reopen = admin.patch(f"/api/cases/{case['id']}", json={"status": "new"})
    assert reopen.status_code == 422


def test_new_case_must_start_new(admin: SandboxClient) -> None:
    response = admin.post("/api/cases", json={"subject": "x", "status": "resolved"})
    assert response.status_code == 422


def test_sales_sees_and_changes_only_own_leads(clients: Clients) -> None:
    sales, sales2 = clients("sales"), clients("sales2")
    mine = sales.get("/api/leads", params={"page_size": 100}).json()
    assert mine["total"] > 0 and {item["owner"] for item in mine["items"]} == {"sales"}
    other = sales2.post("/api/leads", json=new_lead()).json()
    assert other["owner"] == "sales2"
    assert sales.get(f"/api/leads/{other['id']}").status_code == 404
    assert sales.patch(f"/api/leads/{other['id']}", json={"title": "x"}).status_code == 404
    assert sales.delete(f"/api/leads/{other['id']}").status_code == 404
    assert sales2.get(f"/api/leads/{other['id']}").status_code == 200
    not_mine = sales.post("/api/leads", json=new_lead(owner="sales2"))
    assert not_mine.status_code == 422 and "owner" in not_mine.json()["errors"]


def test_sales_scope_applies_to_other_entities(clients: Clients) -> None:
    manager, sales = clients("manager"), clients("sales")
    account = manager.post("/api/accounts", json={"name": unique_word("acct"),
                                                  "owner": "sales2"}).json()
    assert sales.get(f"/api/accounts/{account['id']}").status_code == 404
    listed = sales.get("/api/accounts", params={"page_size": 100}).json()
    assert all(item["owner"] == "sales" for item in listed["items"])


def test_manager_sees_all_and_changes_any(clients: Clients) -> None:
    manager, sales2 = clients("manager"), clients("sales2")
    everything = manager.get("/api/leads").json()["total"]
    assert everything > clients("sales").get("/api/leads").json()["total"]
    lead = sales2.post("/api/leads", json=new_lead()).json()
    assert manager.patch(f"/api/leads/{lead['id']}", json={"title": "VP"}).status_code == 200
    assert manager.delete(f"/api/leads/{lead['id']}").status_code == 204


def test_viewer_reads_but_cannot_write(clients: Clients) -> None:
    viewer, admin = clients("viewer"), clients("admin")
    lead = admin.post("/api/leads", json=new_lead()).json()
    assert viewer.get(f"/api/leads/{lead['id']}").status_code == 200
    assert viewer.get("/api/leads").json()["total"] > 0
    assert viewer.post("/api/leads", json=new_lead()).status_code == 403
    assert viewer.patch(f"/api/leads/{lead['id']}", json={"title": "x"}).status_code == 403
    assert viewer.delete(f"/api/leads/{lead['id']}").status_code == 403
    assert viewer.post("/api/cases", json={"subject": "x"}).status_code == 403
    upload = viewer.post("/api/leads/import",
                         files={"file": ("x.csv", b"first_name,last_name,email\n", "text/csv")})
    assert upload.status_code == 403


@pytest.mark.parametrize("username", ["manager", "sales", "viewer"])
def test_only_admin_manages_users(clients: Clients, username: str) -> None:
    client = clients(username)
    response = client.post("/api/users", json={"username": unique_word("u"),
                                               "password": "long-enough-1", "role": "sales"})
    assert response.status_code == 403
    assert client.post("/api/admin/reset").status_code == 403
    assert client.patch("/api/users/1", json={"role": "viewer"}).status_code == 403


def test_admin_manages_users_and_lockout(sandbox: SandboxHandle, clients: Clients) -> None:
    admin, anonymous = clients("admin"), clients(None)
    username = unique_word("user")
    created = admin.post("/api/users", json={"username": username, "password": "first-pass-1",
                                             "role": "sales", "full_name": "Temp User"})
    assert created.status_code == 201
    user = created.json()
    assert user["role"] == "sales" and "password" not in created.text
    assert admin.post("/api/users", json={"username": username, "password": "x" * 9,
                                          "role": "sales"}).status_code == 422
    assert admin.post("/api/users", json={"username": unique_word("u"), "password": "short",
                                          "role": "boss"}).json()["errors"].keys() >= {
        "password", "role"}

    def login(password: str) -> int:
        return int(anonymous.post("/api/auth/token", json={"username": username,
                                                           "password": password}).status_code)

    assert login("first-pass-1") == 200
    assert [login("wrong-pass") for _ in range(5)] == [401] * 5
    assert login("wrong-pass") == 423
    assert login("first-pass-1") == 423, "a locked account stays locked with the right password"
    assert admin.get(f"/api/users/{user['id']}").json()["locked"] is True
    unlocked = admin.patch(f"/api/users/{user['id']}", json={"locked": False})
    assert unlocked.json()["locked"] is False
    assert login("first-pass-1") == 200
    admin.patch(f"/api/users/{user['id']}", json={"password": "second-pass-2"})
    assert login("first-pass-1") == 401 and login("second-pass-2") == 200
    assert admin.delete(f"/api/users/{user['id']}").status_code == 204
    assert login("second-pass-2") == 401


def test_roles_endpoint(clients: Clients) -> None:
    names = [role["name"] for role in clients("viewer").get("/api/roles").json()["items"]]
    assert names == ["admin", "manager", "sales", "viewer"]


def test_admin_reset_restores_seed(sandbox_factory: Callable[..., SandboxHandle]) -> None:
    handle = sandbox_factory(seed=7)
    admin = SandboxClient(handle, "admin")
    before = admin.get("/api/leads", params={"sort": "id", "page_size": 5}).json()
    admin.post("/api/leads", json=new_lead())
    admin.delete(f"/api/leads/{before['items'][0]['id']}")
    assert admin.post("/api/admin/reset").json() == {"status": "reset"}
    after = admin.get("/api/leads", params={"sort": "id", "page_size": 5}).json()
    assert after == before
    admin.close()


def test_seed_is_deterministic_and_differs_by_seed(
        sandbox: SandboxHandle, sandbox_factory: Callable[..., SandboxHandle]) -> None:
    other = sandbox_factory(seed=2)
    same = sandbox_factory(seed=1)

    def first_names(handle: SandboxHandle) -> list[str]:
        client = SandboxClient(handle, "admin")
        items = client.get("/api/leads", params={"sort": "id", "page_size": 10}).json()["items"]
        client.close()
        return [item["first_name"] for item in items]

    reference = first_names(sandbox)
    assert first_names(same) == reference
    assert first_names(other) != reference


def test_file_database_persists_across_restarts(
        tmp_path: Path, sandbox_factory: Callable[..., SandboxHandle]) -> None:
    db = tmp_path / "crm.sqlite"
    first = sandbox_factory(db_path=db)
    client = SandboxClient(first, "admin")
    lead = client.post("/api/leads", json=new_lead()).json()
    client.close()
    second = sandbox_factory(db_path=db)
    again = SandboxClient(second, "admin")
    assert again.get(f"/api/leads/{lead['id']}").json()["email"] == lead["email"]
    again.close()
