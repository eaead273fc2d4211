"""The web UI over plain HTTP (no browser): every entity's pages, CSRF, sessions, redirects,
escaping and roles. Fast; the browser tests are in test_ui.py."""

from __future__ import annotations

import re

import pytest
import requests
from sandbox_data import csrf_from, ui_login, unique_email, unique_word

from crmqa.sandbox.testing import SandboxHandle

FORMS: dict[str, dict[str, str]] = {
    "contacts": {"first_name": "Анна", "last_name": "Form", "email": "anna@example.com"},
    "accounts": {"name": "Initech 有限公司", "industry": "software"},
    "opportunities": {"name": "Renewal", "stage": "proposal", "amount": "990.50",
                      "close_date": "2026-06-30"},
    "cases": {"subject": "Printer on fire", "type": "complaint", "status": "new",
              "priority": "high"},
}


@pytest.fixture
def admin_ui(sandbox: SandboxHandle) -> requests.Session:
    return ui_login(sandbox.base_url, "admin", sandbox.password)


@pytest.mark.parametrize("plural", sorted(FORMS))
def test_entity_pages_create_edit_delete(sandbox: SandboxHandle, admin_ui: requests.Session,
                                         plural: str) -> None:
    base = sandbox.base_url
    listing = admin_ui.get(f"{base}/{plural}")
    assert listing.status_code == 200 and "Showing 1–" in listing.text
    form = admin_ui.get(f"{base}/{plural}/new")
    values = {**FORMS[plural], "csrf_token": csrf_from(form.text)}
    created = admin_ui.post(f"{base}/{plural}/new", data=values)
    assert created.status_code == 200 and re.search(rf"/{plural}/\d+$", created.url)
    assert 'role="status"' in created.text and "created" in created.text
    first_value = next(iter(FORMS[plural].values()))
    assert first_value in created.text
    edit_url = created.url + "/edit"
    edit_form = admin_ui.get(edit_url)
    changed = {**FORMS[plural], next(iter(FORMS[plural])): "Changed",
               "csrf_token": csrf_from(edit_form.text)}
    if plural == "cases":
        changed["status"] = "in_progress"
    updated = admin_ui.post(edit_url, data=changed)
    assert updated.status_code == 200 and "updated" in updated.text and "Changed" in updated.text
    confirm = admin_ui.get(created.url + "/delete")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    deleted = admin_ui.post(created.url + "/delete", data={"csrf_token": csrf_from(confirm.text)})
    assert deleted.url.endswith(f"/{plural}") and "deleted" in deleted.text
    assert admin_ui.get(created.url).status_code == 404


def test_forms_without_csrf_token_are_refused(sandbox: SandboxHandle,
                                              admin_ui: requests.Session) -> None:
    email = unique_email("csrf")
    response = admin_ui.post(f"{sandbox.base_url}/leads/new", data={
        "first_name": "No", "last_name": "Token", "email": email, "csrf_token": "forged"})
    assert response.status_code == 403
    search = admin_ui.get(f"{sandbox.base_url}/leads", params={"q": email})
    assert "Showing 0–0 of 0" in search.text


def test_login_is_needed_and_next_stays_on_site(sandbox: SandboxHandle) -> None:
    base = sandbox.base_url
    anonymous = requests.Session()
    redirected = anonymous.get(f"{base}/leads/1", allow_redirects=False)
    assert redirected.status_code == 303
    assert redirected.headers["location"] == "/login?next=%2Fleads%2F1"
    page = anonymous.get(f"{base}/login?next=//evil.example/")
    assert 'value="/leads"' in page.text  # an off-site next is replaced
    logged_in = anonymous.post(f"{base}/login", allow_redirects=False, data={
        "username": "admin", "password": sandbox.password, "csrf_token": csrf_from(page.text),
        "next": "https://evil.example/"})
    assert logged_in.headers["location"] == "/leads"
    cookie = logged_in.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_session_is_renewed_at_login(sandbox: SandboxHandle) -> None:
    http = requests.Session()
    page = http.get(f"{sandbox.base_url}/login")
    before = http.cookies.get("crmqa_session")
    http.post(f"{sandbox.base_url}/login", data={
        "username": "viewer", "password": sandbox.password, "csrf_token": csrf_from(page.text)})
    assert http.cookies.get("crmqa_session") != before
    assert csrf_from(http.get(f"{sandbox.base_url}/leads").text) != csrf_from(page.text)


def test_names_are_escaped(sandbox: SandboxHandle, admin_ui: requests.Session) -> None:
    token = unique_word("esc")
    page = admin_ui.get(f"{sandbox.base_url}/leads/new")
    created = admin_ui.post(f"{sandbox.base_url}/leads/new", data={
        "csrf_token": csrf_from(page.text), "first_name": "<script>x()</script>",
        "last_name": token, "email": unique_email("esc"), "status": "new", "source": "web"})
    assert "&lt;script&gt;x()&lt;/script&gt;" in created.text
    assert "<script>x()" not in created.text
    listing = admin_ui.get(f"{sandbox.base_url}/leads", params={"q": token})
    assert "<script>x()" not in listing.text and "&lt;script&gt;" in listing.text


def test_ui_respects_roles(sandbox: SandboxHandle, admin_ui: requests.Session) -> None:
    base = sandbox.base_url
    viewer = ui_login(base, "viewer", sandbox.password)
    assert viewer.get(f"{base}/leads/new").status_code == 403
    detail = viewer.get(f"{base}/leads/1")
    assert detail.status_code == 200 and 'data-testid="edit-link"' not in detail.text
    sales = ui_login(base, "sales", sandbox.password)
    listing = sales.get(f"{base}/leads")
    owners = set(re.findall(r"<td>(sales2?|manager)</td>", listing.text))
    assert owners == {"sales"}
    other = next(int(i) for i in re.findall(r'data-id="(\d+)"', admin_ui.get(
        f"{base}/leads", params={"owner": "sales2"}).text))
    assert sales.get(f"{base}/leads/{other}").status_code == 404


def test_failed_ui_logins_lock_the_account(sandbox: SandboxHandle) -> None:
    admin = requests.Session()
    token = admin.post(f"{sandbox.base_url}/api/auth/token",
                       json={"username": "admin", "password": sandbox.password}).json()
    username = unique_word("uilock")
    admin.post(f"{sandbox.base_url}/api/users", json={
        "username": username, "password": "good-pass-1", "role": "viewer"},
        headers={"Authorization": f"Bearer {token['access_token']}"})
    http = requests.Session()
    statuses = []
    for password in ["bad"] * 5 + ["good-pass-1"]:
        page = http.get(f"{sandbox.base_url}/login")
        answer = http.post(f"{sandbox.base_url}/login", data={
            "username": username, "password": password, "csrf_token": csrf_from(page.text)})
        statuses.append(answer.status_code)
    assert statuses == [401] * 5 + [423]
    assert "locked" in answer.text
