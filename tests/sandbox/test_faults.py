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
    first = _search(probe, q="example", page=1, page_size=5)
    second = _search(probe, q="example", page=2, page_size=5)["items"]
    return first["total"] > 5 and _ids(first["items"]) == _ids(second)


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
        first_name=f"<em class={marker}>Mal</em>")).json()
    html = probe.ui().get(f"{probe.handle.base_url}/leads/{lead['id']}", timeout=10).text
    return f"<em class={marker}>" in html


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


def _ids(items: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]


def sort_ignores_direction(probe: Probe) -> bool:
    token = unique_word("srt")
    for name in ("Aaa", "Bbb", "Ccc"):
        probe.api().post("/api/leads", json=new_lead(company=token, last_name=name))
    items = _search(probe, q=token, sort="-last_name")["items"]
    return [item["last_name"] for item in items] != ["Ccc", "Bbb", "Aaa"]


def source_filter_ignored(probe: Probe) -> bool:
    token = unique_word("src")
    probe.api().post("/api/leads", json=new_lead(company=token, source="event"))
    return bool(_search(probe, q=token, source="web")["items"])


def total_ignores_filters(probe: Probe) -> bool:
    token = unique_word("flt")
    probe.api().post("/api/leads", json=new_lead(company=token, status="new"))
    probe.api().post("/api/leads", json=new_lead(company=token, status="contacted"))
    return bool(_search(probe, q=token, status="new")["total"] == 2)


def search_misses_email(probe: Probe) -> bool:
    lead = probe.api().post("/api/leads", json=new_lead()).json()
    return lead["id"] not in _ids(_search(probe, q=lead["email"])["items"])


def search_ascii_casefold(probe: Probe) -> bool:
    token = unique_word("Cf")
    lead = probe.api().post("/api/leads", json=new_lead(last_name=f"Петров{token}")).json()
    ascii_variant = _ids(_search(probe, q=token.lower())["items"])
    cyrillic_variant = _ids(_search(probe, q=f"петров{token}")["items"])
    return lead["id"] in ascii_variant and lead["id"] not in cyrillic_variant


def edit_mangles_non_latin(probe: Probe) -> bool:
    lead = probe.api().post("/api/leads", json=new_lead()).json()
    probe.api().patch(f"/api/leads/{lead['id']}", json={"title": "Директор 経理"})
    return bool(probe.api().get(f"/api/leads/{lead['id']}").json()["title"] != "Директор 経理")


def company_max_length_unchecked(probe: Probe) -> bool:
    response = probe.api().post("/api/leads", json=new_lead(company="C" * 101))
    return bool(response.status_code == 201)


def apostrophe_rejected(probe: Probe) -> bool:
    response = probe.api().post("/api/leads", json=new_lead(last_name="O'Brien"))
    return bool(response.status_code == 422)


def _converted(probe: Probe, status: str) -> tuple[dict[str, Any], Any]:
    lead = probe.api().post("/api/leads", json=new_lead(status=status)).json()
    return lead, probe.api().post(f"/api/leads/{lead['id']}/convert")


def convert_drops_email(probe: Probe) -> bool:
    lead, converted = _converted(probe, "qualified")
    contact = probe.api().get(f"/api/contacts/{converted.json()['contact_id']}").json()
    return bool(contact["email"] != lead["email"])


def convert_unqualified(probe: Probe) -> bool:
    return bool(_converted(probe, "new")[1].status_code == 200)


def _case_moved(probe: Probe, path: list[str], last: str) -> int:
    case = probe.api().post("/api/cases", json={"subject": "probe"}).json()
    for status in path:
        assert probe.api().patch(f"/api/cases/{case['id']}",
                                 json={"status": status}).status_code == 200
    return int(probe.api().patch(f"/api/cases/{case['id']}", json={"status": last}).status_code)


def case_closed_reopens(probe: Probe) -> bool:
    return _case_moved(probe, ["in_progress", "resolved", "closed"], "in_progress") == 200


def case_reopen_refused(probe: Probe) -> bool:
    return _case_moved(probe, ["in_progress", "resolved"], "in_progress") == 422


def contact_update_clears_fields(probe: Probe) -> bool:
    contact = probe.api().post("/api/contacts", json={
        "first_name": "Keep", "last_name": "Fields", "phone": "+1 555 000-1111"}).json()
    probe.api().patch(f"/api/contacts/{contact['id']}", json={"title": "Buyer"})
    read = probe.api().get(f"/api/contacts/{contact['id']}").json()
    return bool(read["phone"] != "+1 555 000-1111")


def contact_delete_keeps_record(probe: Probe) -> bool:
    contact = probe.api().post("/api/contacts", json={"first_name": "Gone",
                                                      "last_name": "Soon"}).json()
    probe.api().delete(f"/api/contacts/{contact['id']}")
    return bool(probe.api().get(f"/api/contacts/{contact['id']}").status_code == 200)


def contact_timestamps_no_zone(probe: Probe) -> bool:
    contact = probe.api().post("/api/contacts", json={"first_name": "Time",
                                                      "last_name": "Zone"}).json()
    return not str(contact["created_at"]).endswith("Z")


def opportunity_amount_truncated(probe: Probe) -> bool:
    deal = probe.api().post("/api/opportunities", json={"name": "Probe deal",
                                                        "amount": 1234.56}).json()
    return bool(probe.api().get(f"/api/opportunities/{deal['id']}").json()["amount"] != 1234.56)


def user_role_change_ignored(probe: Probe) -> bool:
    user = probe.api().post("/api/users", json={"username": unique_word("role"),
                                                "password": "right-pass-1",
                                                "role": "viewer"}).json()
    probe.api().patch(f"/api/users/{user['id']}", json={"role": "sales"})
    return bool(probe.api().get(f"/api/users/{user['id']}").json()["role"] != "sales")


def import_loses_company(probe: Probe) -> bool:
    name = unique_word("Imp")
    text = (f"first_name,last_name,email,company\nImp,{name},{unique_email()},Imported Co\n"
            f"Imp,Second,{unique_email()},Imported Co\n")
    probe.api().post("/api/leads/import", files={"file": ("x.csv", text.encode(), "text/csv")})
    found = _search(probe, q=name)["items"]
    return bool(found) and found[0]["company"] != "Imported Co"


def idor_update_leads(probe: Probe) -> bool:
    lead = probe.api("sales2").post("/api/leads", json=new_lead()).json()
    changed = probe.api("sales").patch(f"/api/leads/{lead['id']}", json={"title": "Taken"})
    return bool(changed.status_code == 200)


def idor_delete_contacts(probe: Probe) -> bool:
    contact = probe.api("sales2").post("/api/contacts", json={"first_name": "Other",
                                                              "last_name": "Owner"}).json()
    return bool(probe.api("sales").delete(f"/api/contacts/{contact['id']}").status_code == 204)


def viewer_can_edit(probe: Probe) -> bool:
    account = probe.api().post("/api/accounts", json={"name": unique_word("acc")}).json()
    changed = probe.api("viewer").patch(f"/api/accounts/{account['id']}",
                                        json={"industry": "Changed"})
    return bool(changed.status_code == 200)


def unauth_contact_list(probe: Probe) -> bool:
    return bool(probe.api(None).get("/api/contacts").status_code == 200)


def leak_hash_user_detail(probe: Probe) -> bool:
    text = probe.api().get("/api/users/1").text
    return "password_hash" in text or "scrypt$" in text


def _locked_user(probe: Probe) -> str:
    username = unique_word("lk")
    probe.api().post("/api/users", json={"username": username, "password": "right-pass-1",
                                         "role": "viewer"})
    for _ in range(6):
        probe.api(None).post("/api/auth/token", json={"username": username, "password": "no"})
    return username


def lockout_ui_bypass(probe: Probe) -> bool:
    username = _locked_user(probe)
    api = probe.api(None).post("/api/auth/token", json={"username": username,
                                                        "password": "right-pass-1"})
    if api.status_code != 423:
        return False
    try:
        ui_login(probe.handle.base_url, username, "right-pass-1").close()
    except AssertionError:
        return False
    return True


def open_redirect_login(probe: Probe) -> bool:
    base = probe.handle.base_url
    http = requests.Session()
    try:
        page = http.get(f"{base}/login", params={"next": "https://evil.example/x"}, timeout=10)
        answer = http.post(f"{base}/login", timeout=10, allow_redirects=False, data={
            "username": "viewer", "password": probe.handle.password,
            "csrf_token": csrf_from(page.text), "next": "https://evil.example/x"})
        return answer.headers.get("location", "").startswith("https://evil.example")
    finally:
        http.close()


def unknown_sort_server_error(probe: Probe) -> bool:
    return probe.api().get("/api/leads", params={"sort": "no_such_field"}).status_code >= 500


def csrf_delete_unchecked(probe: Probe) -> bool:
    lead = probe.api().post("/api/leads", json=new_lead()).json()
    answer = probe.ui().post(f"{probe.handle.base_url}/leads/{lead['id']}/delete", data={},
                             allow_redirects=False, timeout=10)
    return answer.status_code < 400


def update_unknown_field_server_error(probe: Probe) -> bool:
    contact = probe.api().post("/api/contacts", json={"first_name": "Un",
                                                      "last_name": unique_word("uk")}).json()
    return probe.api().patch(f"/api/contacts/{contact['id']}",
                             json={"no_such_field": "x"}).status_code >= 500


def csrf_convert_import_unchecked(probe: Probe) -> bool:
    lead = probe.api().post("/api/leads", json=new_lead(status="qualified")).json()
    answer = probe.ui().post(f"{probe.handle.base_url}/leads/{lead['id']}/convert", data={},
                             allow_redirects=False, timeout=10)
    return answer.status_code < 400


def session_cookie_not_httponly(probe: Probe) -> bool:
    answer = requests.get(f"{probe.handle.base_url}/login", timeout=10)
    cookie = answer.headers.get("set-cookie", "")
    return "httponly" not in cookie.lower()


def xss_lead_list_company(probe: Probe) -> bool:
    marker = unique_word("xc")
    probe.api().post("/api/leads", json=new_lead(company=f'<em class="{marker}">Co</em>'))
    html = probe.ui().get(f"{probe.handle.base_url}/leads", params={"q": marker},
                          timeout=10).text
    return f'<em class="{marker}">' in html


def formula_guard_partial(probe: Probe) -> bool:
    token = unique_word("fg")
    probe.api().post("/api/leads", json=new_lead(company=token, notes="=1+2",
                                                 title="+SUM(1,2)"))
    rows = _export_rows(probe, token)
    header = rows[0]
    row = dict(zip(header, rows[1], strict=True))
    return row["notes"].startswith("'") and row["title"].startswith("+")


def slow_contact_create(probe: Probe) -> bool:
    started = time.perf_counter()
    probe.api().post("/api/contacts", json={"first_name": "Slow", "last_name": "Create"})
    return time.perf_counter() - started > 1.0


def _legacy(probe: Probe) -> list[dict[str, Any]]:
    """The leads the vendor migrated from the legacy CRM, every page, found without search
    (a search fault must not look like a migration fault)."""
    found: list[dict[str, Any]] = []
    for page in range(1, 20):
        items = probe.api().get("/api/leads", params={"page": page, "page_size": 100}).json()[
            "items"]
        found += [lead for lead in items if lead["email"].endswith("@legacy.example")]
        if len(items) < 100:
            break
    return found


def _legacy_lead(probe: Probe, number: int) -> dict[str, Any]:
    """A migrated lead by its legacy number (those probed have Latin names: another fault
    may drop the others)."""
    email = f"lead{number:03d}@legacy.example"
    return next((lead for lead in _legacy(probe) if lead["email"] == email), {})


def migration_drops_non_ascii(probe: Probe) -> bool:
    return not any(not (lead["first_name"] + lead["last_name"]).isascii()
                   for lead in _legacy(probe))


def migration_truncates_notes(probe: Probe) -> bool:
    return any(len(lead["notes"] or "") == 255 for lead in _legacy(probe))


def migration_status_map_wrong(probe: Probe) -> bool:
    return _legacy_lead(probe, 13).get("status") == "new"  # legacy status Nurturing


def migration_timezone_shift(probe: Probe) -> bool:
    # legacy 2023-03-01 09:15 in Moscow is 06:15 UTC
    return str(_legacy_lead(probe, 1).get("created_at", "")).startswith("2023-03-01T09:15")


def migration_loses_owner(probe: Probe) -> bool:
    return all(lead["owner"] == "admin" for lead in _legacy(probe))


def migration_duplicates_on_rerun(probe: Probe) -> bool:
    emails = [lead["email"] for lead in _legacy(probe)]
    return len(emails) != len(set(emails))


def mouse_only_save(probe: Probe) -> bool:
    html = probe.ui().get(f"{probe.handle.base_url}/leads/new", timeout=10).text
    return 'data-testid="save-button" tabindex="-1"' in html


def error_not_linked(probe: Probe) -> bool:
    base = probe.handle.base_url
    http = probe.ui()
    form = http.get(f"{base}/leads/new", timeout=10).text
    refused = http.post(f"{base}/leads/new", timeout=10, data={
        "csrf_token": csrf_from(form), "first_name": "", "last_name": "Err",
        "email": unique_email("err"), "status": "new", "source": "web"})
    assert 'data-testid="error-first_name"' in refused.text, "the form did not refuse"
    return 'aria-describedby="field-first_name-error"' not in refused.text


def detail_scrolls_sideways(probe: Probe) -> bool:
    lead = probe.api().post("/api/leads", json={
        "first_name": "Wide", "last_name": "Detail", "email": unique_email("wide")}).json()
    try:
        html = probe.ui().get(f"{probe.handle.base_url}/leads/{lead['id']}", timeout=10).text
    finally:
        probe.api().delete(f"/api/leads/{lead['id']}")
    return "fixed-wide" in html


def slow_save_feedback(probe: Probe) -> bool:
    base = probe.handle.base_url
    http = probe.ui()
    form = http.get(f"{base}/leads/new", timeout=10).text
    saved = http.post(f"{base}/leads/new", timeout=10, data={
        "csrf_token": csrf_from(form), "first_name": "Late", "last_name": "Flash",
        "email": unique_email("late"), "status": "new", "source": "web"})
    return 'class="flash late"' in saved.text


PROBES: dict[str, Callable[[Probe], bool]] = {
    fault.name: globals()[fault.name] for fault in CATALOGUE
}


def test_catalogue_is_complete_and_named() -> None:
    assert len(CATALOGUE) >= 40
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
