"""Every seeded fault changes behaviour, the clean build does not, and a fault changes only
what it names.

Each probe asks one question of a running sandbox: "does this defect show?". A fault's probe
must say yes on a sandbox started with that fault, and no on the clean one; every other probe
must still say no on the faulty sandbox.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from sandbox_data import csrf_from, new_lead, ui_login, unique_email, unique_word

# Probes of the faults that show only under concurrency live with their own tests.
from test_concurrency_faults import concurrent_writes_fail  # noqa: F401

from crmqa.sandbox.faults import BY_NAME, CATALOGUE
from crmqa.sandbox.testing import SandboxClient, SandboxHandle


class Probe:
    """Logged-in clients for one sandbox, made on first use."""

    def __init__(self, handle: SandboxHandle) -> None:
        self.handle = handle
        self._clients: dict[str | None, SandboxClient] = {}
        self._ui: requests.Session | None = None

    def api(self, username: str | None = "admin") -> SandboxClient:
        if username not in self._clients:
            self._clients[username] = SandboxClient(self.handle, username)
        return self._clients[username]

    def ui(self) -> requests.Session:
        """A browser-like session logged in as admin through the HTML form."""
        if self._ui is None:
            self._ui = ui_login(self.handle.base_url, "admin", self.handle.password)
        return self._ui

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        if self._ui is not None:
            self._ui.close()


def _search(probe: Probe, **params: object) -> dict[str, Any]:
    return dict(probe.api().get("/api/leads", params=params).json())


def _export_rows(probe: Probe, token: str) -> list[list[str]]:
    text = probe.api().get("/api/leads/export", params={"q": token}).content.decode("utf-8")
    return list(csv.reader(io.StringIO(text)))


def _import(probe: Probe, rows: list[str]) -> dict[str, Any]:
    text = "first_name,last_name,email\n" + "\n".join(rows) + "\n"
    response = probe.api().post("/api/leads/import",
                                files={"file": ("x.csv", text.encode(), "text/csv")})
    return dict(response.json())


def search_case_sensitive(probe: Probe) -> bool:
    token = unique_word("CaSe")
    probe.api().post("/api/leads", json=new_lead(company=token))
    return not _search(probe, q=token.lower())["items"]


def search_ignores_page(probe: Probe) -> bool:
    first = _search(probe, q="example", page=1, page_size=5)["items"]
    second = _search(probe, q="example", page=2, page_size=5)["items"]
    return [lead["id"] for lead in first] == [lead["id"] for lead in second]


def wrong_total_count(probe: Probe) -> bool:
    token = unique_word("tot")
    probe.api().post("/api/leads", json=new_lead(company=token))
    return _search(probe, q=token)["total"] != 1


def edit_drops_phone(probe: Probe) -> bool:
    lead = probe.api().post("/api/leads", json=new_lead(phone="+1 555 333-4444")).json()
    edited = probe.api().patch(f"/api/leads/{lead['id']}", json={"title": "Buyer"}).json()
    return bool(edited["phone"] != "+1 555 333-4444")


def delete_leaves_listed(probe: Probe) -> bool:
    lead = probe.api().post("/api/leads", json=new_lead()).json()
    probe.api().delete(f"/api/leads/{lead['id']}")
    listed = _search(probe, q=lead["email"])["items"]
    return lead["id"] in [item["id"] for item in listed]


def duplicate_email_allowed(probe: Probe) -> bool:
    email = unique_email("dup")
    probe.api().post("/api/leads", json=new_lead(email=email))
    return bool(probe.api().post("/api/leads", json=new_lead(email=email)).status_code == 201)


def case_status_skip(probe: Probe) -> bool:
    case = probe.api().post("/api/cases", json={"subject": "probe"}).json()
    jump = probe.api().patch(f"/api/cases/{case['id']}", json={"status": "closed"})
    return bool(jump.status_code == 200)


def export_drops_non_ascii(probe: Probe) -> bool:
    token = unique_word("na")
    probe.api().post("/api/leads", json=new_lead(company=token, last_name="张伟",
                                                 first_name="Дмитрий"))
    rows = _export_rows(probe, token)
    return not (len(rows) == 2 and rows[1][1] == "张伟" and rows[1][0] == "Дмитрий")


def import_accepts_invalid_email(probe: Probe) -> bool:
    return _import(probe, ["Bad,Email,not-an-email"])["imported"] != 0


def import_drops_last_row(probe: Probe) -> bool:
    result = _import(probe, [f"A,One,{unique_email()}", f"B,Two,{unique_email()}"])
    return result["imported"] != 2 and not result["rejected"]


def idor_leads(probe: Probe) -> bool:
    lead = probe.api("sales2").post("/api/leads", json=new_lead()).json()
    return bool(probe.api("sales").get(f"/api/leads/{lead['id']}").status_code == 200)


def delete_without_token(probe: Probe) -> bool:
    lead = probe.api().post("/api/leads", json=new_lead()).json()
    anonymous = probe.api(None).delete(f"/api/leads/{lead['id']}")
    return bool(anonymous.status_code == 204)


def sql_injection_search(probe: Probe) -> bool:
    quote = probe.api().get("/api/leads", params={"q": "O'Brien"})
    always_true = probe.api().get("/api/leads", params={"q": "%' OR 1=1 OR '%"})
    return quote.status_code == 500 or bool(always_true.json().get("items"))


def xss_lead_name(probe: Probe) -> bool:
    marker = unique_word("x")
    lead = probe.api().post("/api/leads", json=new_lead(
        first_name=f'<em class="{marker}">Mal</em>')).json()
    html = probe.ui().get(f"{probe.handle.base_url}/leads/{lead['id']}", timeout=10).text
    return f'<em class="{marker}">' in html


def csv_formula_injection(probe: Probe) -> bool:
    token = unique_word("fx")
    probe.api().post("/api/leads", json=new_lead(company=token, notes="=1+2"))
    rows = _export_rows(probe, token)
    return any(cell.startswith("=") for row in rows[1:] for cell in row)


def leak_password_hash(probe: Probe) -> bool:
    text = probe.api().get("/api/users").text
    return "password_hash" in text or "scrypt$" in text


def no_lockout(probe: Probe) -> bool:
    username = unique_word("lock")
    probe.api().post("/api/users", json={"username": username, "password": "right-pass-1",
                                         "role": "viewer"})
    anonymous = probe.api(None)
    for _ in range(6):
        anonymous.post("/api/auth/token", json={"username": username, "password": "wrong"})
    after = anonymous.post("/api/auth/token", json={"username": username,
                                                    "password": "right-pass-1"})
    return bool(after.status_code == 200)


def slow_search(probe: Probe) -> bool:
    started = time.perf_counter()
    probe.api().get("/api/leads", params={"q": "example"})
    return time.perf_counter() - started > 1.0


def missing_label(probe: Probe) -> bool:
    html = probe.ui().get(f"{probe.handle.base_url}/leads/new", timeout=10).text
    return '<label for="field-email">' not in html


def no_confirmation(probe: Probe) -> bool:
    base = probe.handle.base_url
    http = probe.ui()
    form = http.get(f"{base}/leads/new", timeout=10).text
    saved = http.post(f"{base}/leads/new", timeout=10, data={
        "csrf_token": csrf_from(form), "first_name": "Conf", "last_name": "Irm",
        "email": unique_email("conf"), "status": "new", "source": "web"})
    assert saved.status_code == 200 and "/leads/" in saved.url, "save did not reach a page"
    return 'role="status"' not in saved.text or "Lead created" not in saved.text


PROBES: dict[str, Callable[[Probe], bool]] = {
    fault.name: globals()[fault.name] for fault in CATALOGUE
}


def test_catalogue_is_complete_and_named() -> None:
    assert len(CATALOGUE) >= 15
    assert len(BY_NAME) == len(CATALOGUE), "fault names must be unique"
    assert {fault.category for fault in CATALOGUE} >= {
        "functional", "security", "performance", "ux", "migration"}
    assert all(fault.description for fault in CATALOGUE)
    assert set(PROBES) == set(BY_NAME), "every fault needs a probe"


@pytest.fixture(scope="module")
def clean_probe(sandbox: SandboxHandle) -> Iterator[Probe]:
    probe = Probe(sandbox)
    yield probe
    probe.close()


@pytest.mark.parametrize("name", [fault.name for fault in CATALOGUE])
def test_clean_sandbox_shows_no_defect(clean_probe: Probe, name: str) -> None:
    assert PROBES[name](clean_probe) is False


@pytest.mark.slow
@pytest.mark.parametrize("name", [fault.name for fault in CATALOGUE])
def test_fault_shows_and_changes_only_what_it_names(
        sandbox_factory: Callable[..., SandboxHandle], name: str) -> None:
    faulty = Probe(sandbox_factory([name]))
    try:
        assert PROBES[name](faulty) is True, f"{name} did not change behaviour"
        leaked = [other for other, probe in PROBES.items()
                  if other != name and probe(faulty)]
        assert leaked == [], f"{name} also changed: {leaked}"
    finally:
        faulty.close()
