"""The sandbox's business rules, shared by the REST API and the web UI.

Both front ends call these operations, so a rule (who may see a lead, what a valid email is,
what import reports) and a seeded fault live in one place each.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import sqlite3
import time
from datetime import date, timedelta
from typing import Any

from crmqa.sandbox.config import SandboxSettings
from crmqa.sandbox.entities import (
    CASE_TRANSITIONS,
    CONTACT,
    ENTITIES,
    LEAD,
    ROLES,
    EntitySpec,
    Errors,
    validate,
)
from crmqa.sandbox.legacy import migrate_legacy
from crmqa.sandbox.security import TokenStore, hash_password, verify_password
from crmqa.sandbox.seed import SEED_USERS, seed_database
from crmqa.sandbox.store import Page, Store

CSV_COLUMNS = ("first_name", "last_name", "email", "phone", "company", "title", "status",
               "source", "owner", "notes")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_PAGE_SIZE = 100
MAX_PAGE = 1_000_000  # far beyond any real list; a larger offset would overflow SQLite's
# The columns a lead list may be sorted by (the unknown_sort_server_error fault reads it raw).
SORT_COLUMNS = {name: name for name in LEAD.sortable}
MAX_IMPORT_BYTES = 5 * 1024 * 1024
SLOW_SEARCH_SECONDS = 1.2
SLOW_WRITE_SECONDS = 1.2

User = dict[str, Any]


class ServiceError(Exception):
    """A request the rules refuse; the front ends turn it into a status code or a page."""

    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotAuthenticated(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Locked(ServiceError):
    status = 423


class InternalError(ServiceError):
    """What a vendor's framework answers for an exception its code did not handle: a 500
    (answered as a response, so the connection stays usable)."""

    status = 500


class ValidationFailed(ServiceError):
    status = 422

    def __init__(self, errors: Errors) -> None:
        super().__init__("validation failed")
        self.errors = errors


def public_user(user: User, *, leak_hash: bool = False) -> dict[str, Any]:
    """A user as the API shows it: never the hash, unless the leak fault says otherwise."""
    shown = {
        "id": user["id"], "username": user["username"], "full_name": user["full_name"],
        "email": user["email"], "role": user["role"], "active": bool(user["active"]),
        "locked": bool(user["locked_until"] and user["locked_until"] > time.time()),
        "created_at": user["created_at"],
    }
    if leak_hash:
        shown["password_hash"] = user["password_hash"]
    return shown


def neutralise_formula(value: str) -> str:
    """Stop a spreadsheet from running a cell as a formula (OWASP CSV injection advice).

    A phone number such as +44 20 7946 0000 is left alone: it is digits, not a formula.
    """
    if value.startswith(FORMULA_STARTS):
        stripped = value.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
        if value[0] in "+-" and stripped[1:].isdigit():
            return value
        return "'" + value
    return value


def unneutralise(value: str) -> str:
    """Undo `neutralise_formula` on import, so that export -> import round-trips."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


class Crm:
    """One sandbox's state and operations."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.faults = settings.faults
        self.store = Store(settings.db_path, settings.faults)
        self.tokens = TokenStore(settings.token_ttl_seconds)
        # The seeded users share one password by design, so one scrypt hash (slow on purpose)
        # serves them all; resets reuse it, so that starting and resetting stay quick.
        seed_hash = hash_password(settings.password)
        self._seed_hashes = {username: seed_hash for username, _, _ in SEED_USERS}
        if self.store.is_empty():
            self.seed()

    def seed(self) -> None:
        seed_database(self.store, seed=self.settings.seed, password_hashes=self._seed_hashes,
                      lead_count=self.settings.lead_count)
        if self.settings.legacy_leads:
            migrate_legacy(self.store, self.settings.legacy_leads)

    def reset(self) -> None:
        """Back to the seeded state (admin only, for tests)."""
        self.store.wipe()
        self.seed()

    # -- authentication ----------------------------------------------------------------------

    def authenticate(self, username: str, password: str, *, web_form: bool = False) -> User:
        """Check a login; count failures and lock the account after too many."""
        user = self.store.user_by_name(username or "")
        if user is None or not user["active"]:
            raise NotAuthenticated("invalid username or password")
        now = time.time()
        # lockout_ui_bypass: the web form's login path forgot the lock check.
        skip_lock = web_form and self.faults.active("lockout_ui_bypass")
        if user["locked_until"] and user["locked_until"] > now and not skip_lock:
            raise Locked("account locked after repeated failed logins; try again later")
        if not verify_password(password or "", user["password_hash"]):
            failures = user["failed_logins"] + 1
            changes: dict[str, Any] = {"failed_logins": failures}
            if failures >= self.settings.lockout_attempts and not self.faults.active("no_lockout"):
                changes = {"failed_logins": 0,
                           "locked_until": now + self.settings.lockout_seconds}
            self.store.update_user(user["id"], changes)
            # The failing attempt itself is a plain 401; the lock shows from the next one on.
            raise NotAuthenticated("invalid username or password")
        if user["failed_logins"] or user["locked_until"]:
            self.store.update_user(user["id"], {"failed_logins": 0, "locked_until": None})
        return user

    def user_for_token(self, token: str) -> User | None:
        username = self.tokens.username_for(token)
        if username is None:
            return None
        user = self.store.user_by_name(username)
        return user if user and user["active"] else None

    # -- permissions -------------------------------------------------------------------------

    @staticmethod
    def scope_owner(user: User) -> str | None:
        """Sales users see only what they own; everyone else sees everything."""
        return user["username"] if user["role"] == "sales" else None

    @staticmethod
    def require_writer(user: User) -> None:
        if user["role"] == "viewer":
            raise Forbidden("viewers cannot change records")

    @staticmethod
    def require_admin(user: User) -> None:
        if user["role"] != "admin":
            raise Forbidden("only admins manage users")

    def _visible(self, user: User | None, record: dict[str, Any]) -> bool:
        if user is None:
            return False
        scope = self.scope_owner(user)
        return scope is None or record["owner"] == scope

    # -- reading -----------------------------------------------------------------------------

    @staticmethod
    def parse_sort(entity: EntitySpec, sort: str | None) -> tuple[str, bool]:
        if not sort:
            return ("created_at", True)
        descending = sort.startswith("-")
        column = sort.lstrip("-+")
        if column not in entity.sortable:
            raise ValidationFailed({"sort": [
                f"cannot sort by {column!r}; use one of: {', '.join(entity.sortable)} "
                "(prefix - for descending)"]})
        return (column, descending)

    @staticmethod
    def check_paging(page: int, page_size: int) -> None:
        errors: Errors = {}
        if page < 1:
            errors["page"] = ["must be 1 or more"]
        elif page > MAX_PAGE:
            errors["page"] = [f"must be at most {MAX_PAGE}"]
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            errors["page_size"] = [f"must be between 1 and {MAX_PAGE_SIZE}"]
        if errors:
            raise ValidationFailed(errors)

    def list_filters(self, entity: EntitySpec, given: dict[str, str | None]) -> dict[str, str]:
        allowed = {"status", "source", "owner", "stage", "type", "priority"}
        known = set(entity.field_names) | {"owner"}
        if entity is LEAD and self.faults.active("source_filter_ignored"):
            allowed.discard("source")
        return {name: value for name, value in given.items()
                if value and name in allowed and name in known}

    async def list_records(
        self,
        entity: EntitySpec,
        user: User | None,
        *,
        q: str = "",
        filters: dict[str, str | None] | None = None,
        sort: str | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> Page:
        """Search, filter, sort and page the records `user` may see."""
        # unknown_sort_server_error: the sort field is looked up in the column map unchecked,
        # so a field that is not sortable raises (a 500) instead of being refused (422).
        if (entity is LEAD and sort and self.faults.active("unknown_sort_server_error")
                and sort.lstrip("-+") not in SORT_COLUMNS):
            raise InternalError("internal server error")
        self.check_paging(page, page_size)
        order = self.parse_sort(entity, sort)
        if entity is LEAD and sort and self.faults.active("sort_ignores_direction"):
            order = (order[0], False)  # the defect: the "-" prefix is read and then dropped
        q = (q or "").strip()
        if entity is LEAD and q:
            if self.faults.active("slow_search"):
                await asyncio.sleep(SLOW_SEARCH_SECONDS)
            if self.faults.active("search_ignores_page"):
                page = 1
        scope = self.scope_owner(user) if user is not None else None
        applied = self.list_filters(entity, filters or {})
        result = self.store.search(entity, scope_owner=scope, q=q, filters=applied,
                                   sort=order, page=page, page_size=page_size)
        if entity is LEAD and self.faults.active("wrong_total_count") and result.total > 0:
            result.total -= 1
        if entity is LEAD and applied and self.faults.active("total_ignores_filters"):
            # The defect: the count query is built before the filters are added.
            result.total = self.store.search(entity, scope_owner=scope, q=q, filters={},
                                             sort=order, page=1, page_size=1).total
        return result

    async def slow_write(self, entity: EntitySpec) -> None:
        """The pause of the `slow_contact_create` fault (awaited by the front ends)."""
        if entity is CONTACT and self.faults.active("slow_contact_create"):
            await asyncio.sleep(SLOW_WRITE_SECONDS)

    def get_record(self, entity: EntitySpec, user: User, record_id: int) -> dict[str, Any]:
        """One record `user` may read; others' records answer 404, as if they did not exist."""
        record = self.store.get(entity, record_id)
        if record is None:
            raise NotFound("not found")
        if entity is LEAD and self.faults.active("idor_leads"):
            return record  # the defect: no ownership check when reading a lead by id
        if not self._visible(user, record):
            raise NotFound("not found")
        return record

    def _get_for_write(self, entity: EntitySpec, user: User, record_id: int,
                       action: str = "update") -> dict[str, Any]:
        record = self.store.get(entity, record_id)
        if record is None:
            raise NotFound("not found")
        # The ownership defects: one action of one entity forgot the owner check.
        unchecked = (
            (entity is LEAD and action == "update" and self.faults.active("idor_update_leads"))
            or (entity is CONTACT and action == "delete"
                and self.faults.active("idor_delete_contacts"))
        )
        if not unchecked and not self._visible(user, record):
            raise NotFound("not found")
        if not (action == "update" and self.faults.active("viewer_can_edit")):
            self.require_writer(user)
        return record

    # -- writing -----------------------------------------------------------------------------

    def _check_owner(self, user: User, clean: dict[str, Any], errors: Errors) -> None:
        owner = clean.get("owner")
        if owner is None:
            return
        target = self.store.user_by_name(owner)
        if target is None:
            errors.setdefault("owner", []).append(f"no user named {owner!r}")
        elif target["role"] == "viewer":
            errors.setdefault("owner", []).append("a viewer cannot own records")
        elif user["role"] == "sales" and owner != user["username"]:
            errors.setdefault("owner", []).append("sales users can only assign records "
                                                  "to themselves")

    def _check_refs(self, entity: EntitySpec, user: User, clean: dict[str, Any],
                    errors: Errors) -> None:
        for spec in entity.fields:
            value = clean.get(spec.name)
            if spec.kind == "ref" and value is not None and spec.ref:
                ref = self.store.get(ENTITIES[spec.ref], int(value))
                if ref is None or not self._visible(user, ref):
                    errors.setdefault(spec.name, []).append(
                        f"no {ENTITIES[spec.ref].name} with id {value}")

    def _check_unique_email(self, clean: dict[str, Any], errors: Errors,
                            except_id: int | None = None) -> None:
        email = clean.get("email")
        if not email or "email" in errors or self.faults.active("duplicate_email_allowed"):
            return
        if self.store.lead_email_taken(email, except_id):
            errors.setdefault("email", []).append("a lead with this email already exists")

    def create_record(self, entity: EntitySpec, user: User, data: dict[str, Any], *,
                      check_email: bool = True) -> dict[str, Any]:
        """Validate and store a new record owned by `owner` (default: the creator)."""
        self.require_writer(user)
        clean, errors = validate(self._rules_of(entity), data, partial=False,
                                 check_email=check_email)
        self._check_owner(user, clean, errors)
        self._check_refs(entity, user, clean, errors)
        self._seeded_write_faults(entity, clean, errors)
        if entity is LEAD:
            self._check_unique_email(clean, errors)
            if clean.get("status") == "converted":
                errors.setdefault("status", []).append("a lead becomes converted only by "
                                                       "converting it")
        if entity.plural == "cases" and clean.get("status") not in (None, "new"):
            errors.setdefault("status", []).append("a new case starts in status new")
        if errors:
            raise ValidationFailed(errors)
        clean["owner"] = clean.get("owner") or user["username"]
        return self.store.insert(entity, clean)

    def update_record(self, entity: EntitySpec, user: User, record_id: int,
                      data: dict[str, Any]) -> dict[str, Any]:
        """Apply a partial change."""
        current = self._get_for_write(entity, user, record_id)
        if self.faults.active("update_unknown_field_server_error"):
            known = {spec.name for spec in entity.fields} | {"owner"}
            unknown = [name for name in data if name not in known]
            if unknown:  # the vendor writes every key it is sent as a column
                raise sqlite3.OperationalError(f"no such column: {unknown[0]}")
        clean, errors = validate(self._rules_of(entity), data, partial=True)
        self._seeded_write_faults(entity, clean, errors)
        for spec in entity.fields:
            if spec.required and spec.name in clean and clean[spec.name] is None:
                errors.setdefault(spec.name, ["this field is required"])
        self._check_owner(user, clean, errors)
        self._check_refs(entity, user, clean, errors)
        if entity is LEAD:
            self._check_unique_email(clean, errors, except_id=record_id)
            if (clean.get("status") == "converted") != (current["status"] == "converted") \
                    and "status" in clean and clean["status"] != current["status"]:
                errors.setdefault("status", []).append("a lead becomes converted only by "
                                                       "converting it")
            if self.faults.active("edit_drops_phone"):
                clean["phone"] = None  # the defect: the edit loses the phone
            if self.faults.active("edit_mangles_non_latin"):
                clean = {name: _cp1252_mojibake(value) for name, value in clean.items()}
        if entity.plural == "cases" and "status" in clean and "status" not in errors:
            self._check_case_transition(current["status"], clean["status"], errors)
        if entity is CONTACT and self.faults.active("contact_update_clears_fields"):
            # The defect: a partial change is stored as if it were the whole record.
            clean = {spec.name: clean.get(spec.name) for spec in entity.fields
                     if not spec.required or spec.name in clean} | (
                         {"owner": clean["owner"]} if "owner" in clean else {})
        if errors:
            raise ValidationFailed(errors)
        return self.store.update(entity, record_id, clean)

    def _rules_of(self, entity: EntitySpec) -> EntitySpec:
        """The entity as validation sees it; `company_max_length_unchecked` loses one limit."""
        if entity is LEAD and self.faults.active("company_max_length_unchecked"):
            fields = tuple(dataclasses.replace(spec, max_length=None)
                           if spec.name == "company" else spec for spec in entity.fields)
            return dataclasses.replace(entity, fields=fields)
        return entity

    def _seeded_write_faults(self, entity: EntitySpec, clean: dict[str, Any],
                             errors: Errors) -> None:
        """Faults that change what a create or an update stores or refuses."""
        if entity is LEAD and self.faults.active("apostrophe_rejected"):
            for name in ("first_name", "last_name"):
                value = clean.get(name)
                if isinstance(value, str) and any(mark in value for mark in "'\"’"):
                    errors.setdefault(name, []).append("contains characters that are not "
                                                       "allowed")
        if entity.plural == "opportunities" and self.faults.active(
                "opportunity_amount_truncated") and isinstance(clean.get("amount"), float):
            clean["amount"] = float(int(clean["amount"]))

    def _check_case_transition(self, old: str, new: str, errors: Errors) -> None:
        if new == old:
            return
        allowed = CASE_TRANSITIONS.get(old, ())
        if old != "closed" and self.faults.active("case_status_skip"):
            allowed = (*allowed, "closed")  # the defect: "close" is offered from every state
        if old == "closed" and self.faults.active("case_closed_reopens"):
            allowed = ("in_progress",)
        if old == "resolved" and self.faults.active("case_reopen_refused"):
            allowed = tuple(step for step in allowed if step != "in_progress")
        if new not in allowed:
            next_steps = ", ".join(allowed) or "nothing (closed is final)"
            errors.setdefault("status", []).append(
                f"a case cannot move from {old} to {new}; next: {next_steps}")

    def delete_record(self, entity: EntitySpec, user: User | None, record_id: int) -> None:
        """Delete a record; `user` is None only under the `delete_without_token` fault."""
        if user is None:
            if not (entity is LEAD and self.faults.active("delete_without_token")):
                raise NotAuthenticated("not authenticated")
            if self.store.get(entity, record_id) is None:
                raise NotFound("not found")
        else:
            self._get_for_write(entity, user, record_id, action="delete")
        if entity is CONTACT and self.faults.active("contact_delete_keeps_record"):
            return  # the defect: the delete is acknowledged and never carried out
        self.store.delete(entity, record_id)

    def convert_lead(self, user: User, lead_id: int) -> dict[str, int]:
        """A qualified lead becomes an account, a contact and an opportunity."""
        lead = self._get_for_write(LEAD, user, lead_id, action="convert")
        if lead["status"] != "qualified" and not (
                self.faults.active("convert_unqualified") and lead["status"] != "converted"):
            raise Conflict(f"only qualified leads can be converted; this lead is {lead['status']}")
        owner = lead["owner"]
        company = lead["company"] or f"{lead['first_name']} {lead['last_name']}"
        self.store.conn.execute("BEGIN")
        try:
            account = self.store.insert(ENTITIES["accounts"], {
                "name": company[:100], "phone": lead["phone"], "owner": owner})
            contact = self.store.insert(ENTITIES["contacts"], {
                "first_name": lead["first_name"], "last_name": lead["last_name"],
                "email": None if self.faults.active("convert_drops_email") else lead["email"],
                "phone": lead["phone"], "title": lead["title"],
                "account_id": account["id"], "owner": owner})
            opportunity = self.store.insert(ENTITIES["opportunities"], {
                "name": f"{company} opportunity"[:120], "stage": "prospecting", "amount": 0.0,
                "close_date": (date.today() + timedelta(days=30)).isoformat(),
                "account_id": account["id"], "contact_id": contact["id"], "owner": owner})
            self.store.update(LEAD, lead_id, {"status": "converted"})
            self.store.conn.execute("COMMIT")
        except Exception:
            self.store.conn.execute("ROLLBACK")
            raise
        return {"contact_id": contact["id"], "account_id": account["id"],
                "opportunity_id": opportunity["id"]}

    # -- import and export -------------------------------------------------------------------

    def import_leads(self, user: User, content: bytes) -> dict[str, Any]:
        """Import a UTF-8 CSV with a header row; keep good rows, report rejected ones.

        Row numbers count the header as row 1, as a spreadsheet shows them.
        """
        self.require_writer(user)
        if len(content) > MAX_IMPORT_BYTES:
            raise ValidationFailed({"file": ["the file is larger than 5 MB"]})
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed({"file": ["the file is not UTF-8 text"]}) from None
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [name.strip() for name in (reader.fieldnames or [])]
        if not header:
            raise ValidationFailed({"file": ["the file is empty; expected a header row"]})
        unknown = [name for name in header if name not in CSV_COLUMNS]
        missing = [name for name in ("first_name", "last_name", "email") if name not in header]
        if unknown or missing:
            problems = []
            if unknown:
                problems.append(f"unknown column(s): {', '.join(unknown)}")
            if missing:
                problems.append(f"missing column(s): {', '.join(missing)}")
            raise ValidationFailed({"file": [
                "; ".join(problems) + f" (expected: {','.join(CSV_COLUMNS)})"]})
        reader.fieldnames = header
        rows = list(reader)
        if self.faults.active("import_drops_last_row") and rows:
            rows = rows[:-1]  # the defect: an off-by-one loop misses the last row
        check_email = not self.faults.active("import_accepts_invalid_email")
        imported: list[int] = []
        rejected: list[dict[str, Any]] = []
        for number, row in enumerate(rows, start=2):
            if None in row:
                rejected.append({"row": number, "errors": {"row": ["more cells than columns"]}})
                continue
            data = {name: unneutralise(value) if isinstance(value, str) else value
                    for name, value in row.items()}
            if self.faults.active("import_loses_company"):
                data.pop("company", None)
            try:
                record = self.create_record(LEAD, user, data, check_email=check_email)
            except ValidationFailed as failure:
                rejected.append({"row": number, "errors": failure.errors})
                continue
            imported.append(record["id"])
        return {"imported": len(imported), "ids": imported, "rejected": rejected}

    def export_leads(self, user: User, *, q: str = "",
                           filters: dict[str, str | None] | None = None,
                           sort: str | None = None) -> str:
        """All matching leads as CSV text, header first, formulas neutralised."""
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        # One query without paging: an export is everything that matches, not one page.
        result = self.store.search(LEAD, scope_owner=self.scope_owner(user), q=(q or "").strip(),
                                   filters=self.list_filters(LEAD, filters or {}),
                                   sort=self.parse_sort(LEAD, sort), page=1,
                                   page_size=1_000_000)
        for record in result.items:
            writer.writerow([self._csv_cell(record.get(name)) for name in CSV_COLUMNS])
        return out.getvalue()

    def _csv_cell(self, value: Any) -> str:
        text = "" if value is None else str(value)
        if self.faults.active("export_drops_non_ascii"):
            text = text.encode("ascii", "ignore").decode("ascii")
        if self.faults.active("csv_formula_injection"):
            return text
        if self.faults.active("formula_guard_partial"):
            return "'" + text if text.startswith("=") else text
        return neutralise_formula(text)

    # -- users -------------------------------------------------------------------------------

    def list_users(self, user: User) -> list[dict[str, Any]]:
        leak = self.faults.active("leak_password_hash")
        return [public_user(row, leak_hash=leak) for row in self.store.list_users()]

    def get_user(self, user: User, user_id: int) -> dict[str, Any]:
        row = self.store.user_by_id(user_id)
        if row is None:
            raise NotFound("not found")
        return public_user(row, leak_hash=self.faults.active("leak_hash_user_detail"))

    def _validate_user(self, data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
        errors: Errors = {}
        clean: dict[str, Any] = {}
        allowed = {"username", "password", "role", "full_name", "email", "active", "locked"}
        for name in data:
            if name not in allowed:
                errors.setdefault(name, []).append("unknown field")
        for name, limit in (("username", 40), ("full_name", 100), ("email", 254)):
            if name in data:
                value = data[name]
                if not isinstance(value, str) or (name == "username" and not value.strip()):
                    errors.setdefault(name, []).append("must be non-empty text")
                elif len(value) > limit:
                    errors.setdefault(name, []).append(f"must be at most {limit} characters")
                else:
                    clean[name] = value.strip()
            elif not partial and name == "username":
                errors.setdefault(name, []).append("this field is required")
        if "role" in data or not partial:
            if data.get("role") not in ROLES:
                errors.setdefault("role", []).append(f"must be one of: {', '.join(ROLES)}")
            else:
                clean["role"] = data["role"]
        if "password" in data or not partial:
            password = data.get("password")
            if not isinstance(password, str) or len(password) < 8:
                errors.setdefault("password", []).append("must be at least 8 characters")
            else:
                clean["password_hash"] = hash_password(password)
        for flag in ("active", "locked"):
            if flag in data:
                if not isinstance(data[flag], bool):
                    errors.setdefault(flag, []).append("must be true or false")
                else:
                    clean[flag] = data[flag]
        if errors:
            raise ValidationFailed(errors)
        return clean

    def create_user(self, user: User, data: dict[str, Any]) -> dict[str, Any]:
        self.require_admin(user)
        clean = self._validate_user(data, partial=False)
        if self.store.user_by_name(clean["username"]):
            raise ValidationFailed({"username": ["this username is taken"]})
        clean.pop("locked", None)
        clean["active"] = int(clean.get("active", True))
        created = self.store.insert_user(clean)
        return public_user(created, leak_hash=self.faults.active("leak_hash_user_detail"))

    def update_user(self, user: User, user_id: int, data: dict[str, Any]) -> dict[str, Any]:
        self.require_admin(user)
        target = self.store.user_by_id(user_id)
        if target is None:
            raise NotFound("not found")
        clean = self._validate_user(data, partial=True)
        if "username" in clean and clean["username"] != target["username"]:
            raise ValidationFailed({"username": ["a username cannot be changed"]})
        if "locked" in clean:
            locked = clean.pop("locked")
            clean["locked_until"] = (time.time() + self.settings.lockout_seconds) if locked \
                else None
            clean["failed_logins"] = 0
        if "active" in clean:
            clean["active"] = int(clean["active"])
        if self.faults.active("user_role_change_ignored"):
            clean.pop("role", None)  # the defect: the role column is missing from the UPDATE
        self.store.update_user(user_id, clean)
        if "password_hash" in clean or clean.get("active") == 0:
            self.tokens.revoke_user(target["username"])
        return self.get_user(user, user_id)

    def delete_user(self, user: User, user_id: int) -> None:
        self.require_admin(user)
        target = self.store.user_by_id(user_id)
        if target is None:
            raise NotFound("not found")
        if target["id"] == user["id"]:
            raise Conflict("you cannot delete yourself")
        self.store.delete_user(user_id)
        self.tokens.revoke_user(target["username"])


def _cp1252_mojibake(value: Any) -> Any:
    """Text as a system that stores UTF-8 bytes and reads them back as Windows-1252 shows it
    ("Ð”Ð¸Ñ€ÐµÐºÑ‚Ð¾Ñ€")."""
    if isinstance(value, str) and not value.isascii():
        return value.encode("utf-8").decode("cp1252", errors="replace")
    return value
