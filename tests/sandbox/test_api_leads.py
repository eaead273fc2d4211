"""The lead API of the clean sandbox, over real HTTP: CRUD, validation, search, import, export."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from sandbox_data import new_lead, unique_email, unique_word

from crmqa.sandbox.testing import SandboxClient, SandboxHandle

Clients = Callable[[str | None], SandboxClient]


def test_health_and_openapi_answer_without_login(sandbox: SandboxHandle,
                                                  clients: Clients) -> None:
    anonymous = clients(None)
    assert anonymous.get("/api/health").json() == {"status": "ok"}
    spec = anonymous.get("/openapi.json").json()
    assert "/api/leads" in spec["paths"]
    assert "/api/leads/{record_id}/convert" in spec["paths"]


def test_token_endpoint_rejects_bad_credentials(clients: Clients) -> None:
    anonymous = clients(None)
    bad = anonymous.post("/api/auth/token", json={"username": "admin", "password": "wrong"})
    assert bad.status_code == 401
    assert "access_token" not in bad.json()
    missing = anonymous.post("/api/auth/token", json={"username": "admin"})
    assert missing.status_code == 422
    assert "password" in missing.json()["errors"]


def test_token_shape(sandbox: SandboxHandle, clients: Clients) -> None:
    body = clients(None).post("/api/auth/token", json={
        "username": "viewer", "password": sandbox.password}).json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    assert len(body["access_token"]) >= 32


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic abc"])
def test_no_or_bad_token_is_401(clients: Clients, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = clients(None).get("/api/leads", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_create_get_update_delete_lead(admin: SandboxClient) -> None:
    payload = new_lead(first_name="Zoë", last_name="Ångström", title="CTO", notes="met at expo")
    created = admin.post("/api/leads", json=payload)
    assert created.status_code == 201
    lead = created.json()
    assert {key: lead[key] for key in payload} == payload
    assert lead["status"] == "new" and lead["source"] == "web" and lead["owner"] == "admin"
    assert lead["created_at"].endswith("Z")

    fetched = admin.get(f"/api/leads/{lead['id']}")
    assert fetched.status_code == 200 and fetched.json() == lead

    updated = admin.patch(f"/api/leads/{lead['id']}", json={"phone": "+44 20 7946 0000",
                                                             "status": "contacted"})
    assert updated.status_code == 200
    assert updated.json()["phone"] == "+44 20 7946 0000"
    assert updated.json()["status"] == "contacted"
    assert updated.json()["company"] == payload["company"]  # untouched fields stay

    assert admin.delete(f"/api/leads/{lead['id']}").status_code == 204
    assert admin.get(f"/api/leads/{lead['id']}").json() == {"detail": "not found"}
    assert admin.get(f"/api/leads/{lead['id']}").status_code == 404
    listed = admin.get("/api/leads", params={"q": payload["email"]}).json()
    assert listed["total"] == 0


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"first_name": None}, "first_name", "this field is required"),
        ({"last_name": ""}, "last_name", "this field is required"),
        ({"email": "not-an-email"}, "email", "not a valid email address"),
        ({"email": "a@b"}, "email", "not a valid email address"),
        ({"phone": "call me"}, "phone", "not a valid phone number"),
        ({"phone": "12"}, "phone", "not a valid phone number"),
        ({"first_name": "x" * 51}, "first_name", "at most 50"),
        ({"company": "c" * 101}, "company", "at most 100"),
        ({"notes": "n" * 2001}, "notes", "at most 2000"),
        ({"status": "won"}, "status", "must be one of"),
        ({"source": "tv"}, "source", "must be one of"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"owner": "nobody"}, "owner", "no user named"),
    ],
)
def test_invalid_lead_is_422_with_field_errors(admin: SandboxClient, changes: dict[str, object],
                                              field: str, message: str) -> None:
    response = admin.post("/api/leads", json=new_lead(**changes))
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "validation failed"
    assert any(message in text for text in body["errors"][field]), body


def test_limits_are_inclusive(admin: SandboxClient) -> None:
    response = admin.post("/api/leads", json=new_lead(first_name="x" * 50, notes="n" * 2000))
    assert response.status_code == 201


def test_duplicate_email_is_rejected_case_insensitively(admin: SandboxClient) -> None:
    email = unique_email("dup")
    assert admin.post("/api/leads", json=new_lead(email=email)).status_code == 201
    again = admin.post("/api/leads", json=new_lead(email=email.upper()))
    assert again.status_code == 422
    assert "already exists" in again.json()["errors"]["email"][0]


def test_malformed_json_is_a_clear_422(admin: SandboxClient) -> None:
    response = admin.post("/api/leads", data="{not json",
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"] == "validation failed"


def test_list_is_paged_with_total(admin: SandboxClient) -> None:
    first = admin.get("/api/leads", params={"page": 1, "page_size": 20}).json()
    assert first["total"] >= 60 and first["page"] == 1 and first["page_size"] == 20
    assert len(first["items"]) == 20
    third = admin.get("/api/leads", params={"page": 3, "page_size": 20}).json()
    assert third["items"] and third["total"] == first["total"]
    ids = {lead["id"] for lead in first["items"]} & {lead["id"] for lead in third["items"]}
    assert not ids, "pages overlap"
    beyond = admin.get("/api/leads", params={"page": 999}).json()
    assert beyond["items"] == [] and beyond["total"] == first["total"]


@pytest.mark.parametrize("params", [{"page": 0}, {"page_size": 0}, {"page_size": 101},
                                    {"page": "x"}, {"sort": "password"}])
def test_bad_list_parameters_are_422(admin: SandboxClient, params: dict[str, object]) -> None:
    response = admin.get("/api/leads", params=params)
    assert response.status_code == 422
    assert response.json()["errors"]


def test_search_is_case_insensitive_partial_over_name_company_email(admin: SandboxClient
                                                                    ) -> None:
    token = unique_word("Qz")
    lead = admin.post("/api/leads", json=new_lead(company=f"Firm {token} Ltd")).json()
    for query in (token, token.lower(), token.upper(), token[2:8]):
        found = admin.get("/api/leads", params={"q": query}).json()
        assert [item["id"] for item in found["items"]] == [lead["id"]], query
        assert found["total"] == 1
    by_email = admin.get("/api/leads", params={"q": lead["email"][:12].upper()}).json()
    assert lead["id"] in [item["id"] for item in by_email["items"]]
    by_name = admin.post("/api/leads", json=new_lead(first_name=f"Имя{token}")).json()
    found = admin.get("/api/leads", params={"q": f"имя{token.lower()}"}).json()
    assert [item["id"] for item in found["items"]] == [by_name["id"]]


def test_filters_and_sorting(admin: SandboxClient) -> None:
    token = unique_word("flt")
    for index, (status, source) in enumerate([("qualified", "event"), ("new", "event"),
                                              ("qualified", "partner")]):
        admin.post("/api/leads", json=new_lead(last_name=f"{chr(67 - index)}{token}",
                                               company=token, status=status, source=source))
    both = admin.get("/api/leads", params={"q": token, "status": "qualified",
                                           "source": "event"}).json()
    assert both["total"] == 1 and both["items"][0]["status"] == "qualified"
    ordered = admin.get("/api/leads", params={"q": token, "sort": "last_name"}).json()
    names = [item["last_name"] for item in ordered["items"]]
    assert names == sorted(names) and len(names) == 3
    reverse = admin.get("/api/leads", params={"q": token, "sort": "-last_name"}).json()
    assert [item["last_name"] for item in reverse["items"]] == names[::-1]
    owned = admin.get("/api/leads", params={"owner": "sales2"}).json()
    assert owned["total"] > 0 and {item["owner"] for item in owned["items"]} == {"sales2"}


def test_seed_has_non_ascii_names(admin: SandboxClient) -> None:
    items = admin.get("/api/leads", params={"page_size": 100}).json()["items"]
    names = " ".join(item["first_name"] + item["last_name"] for item in items)
    assert any("\u4e00" <= char <= "\u9fff" for char in names), "no Chinese names"
    assert any("\u0400" <= char <= "\u04ff" for char in names), "no Cyrillic names"


def test_import_reports_rejected_rows_and_keeps_the_rest(admin: SandboxClient) -> None:
    good, dup = unique_email("imp"), unique_email("impdup")
    text = (
        "first_name,last_name,email,phone,company,title,status,source,owner,notes\n"
        f"Ivan,Петров,{good},+7 495 123-45-67,ООО Ромашка,CEO,qualified,event,sales,\n"
        "No,Email,,,,,,,,\n"
        f"Bad,Mail,not-an-email,,,,,,,\n"
        f"Li,王,{dup},,,,,,,\n"
        f"Li,王,{dup},,,,,,,\n"
        f"Wrong,Status,{unique_email()},,,,done,,,\n"
    )
    response = admin.post("/api/leads/import",
                          files={"file": ("leads.csv", text.encode("utf-8"), "text/csv")})
    assert response.status_code == 200
    body = response.json()
    assert body["imported"] == 2 and len(body["ids"]) == 2
    rejected = {item["row"]: item["errors"] for item in body["rejected"]}
    assert set(rejected) == {3, 4, 6, 7}
    assert "email" in rejected[3] and "email" in rejected[4] and "email" in rejected[6]
    assert "status" in rejected[7]
    first = admin.get(f"/api/leads/{body['ids'][0]}").json()
    assert first["last_name"] == "Петров" and first["owner"] == "sales"
    assert first["company"] == "ООО Ромашка"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"name,mail\nA,b\n", "unknown column"), (b"\xff\xfe\x00bad", "UTF-8")],
)
def test_import_of_a_bad_file_is_a_clear_422(admin: SandboxClient, content: bytes,
                                             message: str) -> None:
    response = admin.post("/api/leads/import", files={"file": ("x.csv", content, "text/csv")})
    assert response.status_code == 422
    assert message in response.json()["errors"]["file"][0]


def test_export_is_utf8_csv_with_header_and_neutralised_formulas(admin: SandboxClient) -> None:
    token = unique_word("exp")
    admin.post("/api/leads", json=new_lead(first_name="=HYPERLINK(\"http://x\")",
                                           last_name="张伟", company=token,
                                           phone="+86 10 1234 5678", notes="@SUM(A1)"))
    response = admin.get("/api/leads/export", params={"q": token})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"))))
    assert rows[0] == ["first_name", "last_name", "email", "phone", "company", "title",
                       "status", "source", "owner", "notes"]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["first_name"] == "'=HYPERLINK(\"http://x\")"
    assert row["notes"] == "'@SUM(A1)"
    assert row["last_name"] == "张伟"
    assert row["phone"] == "+86 10 1234 5678"  # a phone is not a formula


def test_export_then_import_round_trips(admin: SandboxClient) -> None:
    token = unique_word("rt")
    original = new_lead(first_name="-minus", last_name="Ли", company=token, notes="=1+1")
    admin.post("/api/leads", json=original)
    exported = admin.get("/api/leads/export", params={"q": token}).content.decode("utf-8")
    lead_id = admin.get("/api/leads", params={"q": token}).json()["items"][0]["id"]
    assert admin.delete(f"/api/leads/{lead_id}").status_code == 204
    result = admin.post("/api/leads/import",
                        files={"file": ("rt.csv", exported.encode("utf-8"), "text/csv")}).json()
    assert result["imported"] == 1, result
    again = admin.get(f"/api/leads/{result['ids'][0]}").json()
    for key in ("first_name", "last_name", "email", "company", "notes", "phone"):
        assert again[key] == original[key]


def test_convert_qualified_lead(admin: SandboxClient) -> None:
    lead = admin.post("/api/leads", json=new_lead(status="qualified", company="Convert Co",
                                                  owner="sales")).json()
    response = admin.post(f"/api/leads/{lead['id']}/convert")
    assert response.status_code == 200
    ids = response.json()
    contact = admin.get(f"/api/contacts/{ids['contact_id']}").json()
    account = admin.get(f"/api/accounts/{ids['account_id']}").json()
    opportunity = admin.get(f"/api/opportunities/{ids['opportunity_id']}").json()
    assert contact["email"] == lead["email"] and contact["account_id"] == account["id"]
    assert account["name"] == "Convert Co" and account["owner"] == "sales"
    assert opportunity["account_id"] == account["id"] and opportunity["stage"] == "prospecting"
    assert admin.get(f"/api/leads/{lead['id']}").json()["status"] == "converted"
    again = admin.post(f"/api/leads/{lead['id']}/convert")
    assert again.status_code == 409


def test_convert_refuses_unqualified_lead(admin: SandboxClient) -> None:
    lead = admin.post("/api/leads", json=new_lead(status="contacted")).json()
    response = admin.post(f"/api/leads/{lead['id']}/convert")
    assert response.status_code == 409
    assert "qualified" in response.json()["detail"]


def test_security_headers_and_no_hash_in_users(admin: SandboxClient) -> None:
    response = admin.get("/api/users")
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "password" not in response.text and "scrypt" not in response.text
    assert {user["username"] for user in response.json()["items"]} >= {
        "admin", "manager", "sales", "sales2", "viewer"}


def test_search_input_is_not_sql(admin: SandboxClient) -> None:
    for query in ("' OR 1=1 --", "%", "_", "\"; DROP TABLE leads; --"):
        response = admin.get("/api/leads", params={"q": query})
        assert response.status_code == 200
        assert response.json()["total"] == 0, query
