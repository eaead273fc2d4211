"""The sandbox's server-rendered web UI (Jinja2, plain HTML forms, no JavaScript).

Sessions are signed cookies; every form carries a per-session CSRF token; all output is
escaped by Jinja2 except where the `xss_lead_name` fault says otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.datastructures import FormData, UploadFile

from crmqa.sandbox.entities import ENTITIES, LEAD, EntitySpec
from crmqa.sandbox.faults import FaultSet
from crmqa.sandbox.security import new_csrf_token, same_token
from crmqa.sandbox.services import (
    Crm,
    Forbidden,
    NotFound,
    ServiceError,
    User,
    ValidationFailed,
)

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
NAV = ("leads", "contacts", "accounts", "opportunities", "cases")
FILTERS: dict[str, tuple[str, ...]] = {
    "leads": ("status", "source", "owner"),
    "contacts": (),
    "accounts": (),
    "opportunities": ("stage", "owner"),
    "cases": ("type", "status", "priority", "owner"),
}


class LoginRequired(Exception):
    """Raised inside a page handler when nobody is logged in."""


def crm_of(request: Request) -> Crm:
    crm: Crm = request.app.state.crm
    return crm


def session_user(request: Request) -> User | None:
    username = request.session.get("username")
    if not username:
        return None
    user = crm_of(request).store.user_by_name(username)
    return user if user and user["active"] else None


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = new_csrf_token()
        request.session["csrf"] = token
    return str(token)


def flash(request: Request, message: str) -> None:
    """A confirmation shown once on the next page, in the role=status region."""
    request.session["flash"] = message


def late_flash(request: Request) -> None:
    """The next page shows its flash message only after a while (slow_save_feedback)."""
    request.session["flash_late"] = True


def safe_next(target: str | None, faults: FaultSet | None = None) -> str:
    """Only local paths: never redirect a login to another site (unless the
    `open_redirect_login` fault says otherwise)."""
    if target and faults is not None and faults.active("open_redirect_login"):
        return target
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/leads"


def display_value(entity: EntitySpec, record: dict[str, Any], name: str,
                  faults: FaultSet) -> Markup:
    """A record's value as HTML. Escaped, except for lead names under the XSS fault."""
    value = record.get(name)
    text = "" if value is None else str(value)
    if entity is LEAD and name in ("first_name", "last_name") and faults.active("xss_lead_name"):
        return Markup(text)
    return escape(text)


def list_cell(entity: EntitySpec, record: dict[str, Any], name: str,
              faults: FaultSet) -> Markup:
    """A value in a list page's table: the list template's own copy of the escaping rule."""
    if entity is LEAD and name == "company" and faults.active("xss_lead_list_company"):
        return Markup(str(record.get(name) or ""))
    return display_value(entity, record, name, faults)


def record_title(entity: EntitySpec, record: dict[str, Any], faults: FaultSet) -> Markup:
    parts = [display_value(entity, record, name, faults) for name in entity.title_fields]
    return Markup(" ").join(part for part in parts if part) or Markup(f"#{record['id']}")


def build_ui_router(faults: FaultSet) -> APIRouter:
    """All HTML pages."""
    router = APIRouter(include_in_schema=False)

    def render(request: Request, template: str, context: dict[str, Any],
               status_code: int = 200) -> HTMLResponse:
        user = session_user(request)
        base = {
            "user": user,
            "csrf": csrf_token(request),
            "flash": request.session.pop("flash", None),
            "flash_late": request.session.pop("flash_late", False),
            "nav": [(plural, ENTITIES[plural].label + "s" if plural != "opportunities"
                     else "Opportunities") for plural in NAV],
            "faults": faults,
            "display": lambda entity, record, name: display_value(entity, record, name, faults),
            "cell": lambda entity, record, name: list_cell(entity, record, name, faults),
            "title_of": lambda entity, record: record_title(entity, record, faults),
        }
        base.update(context)
        return TEMPLATES.TemplateResponse(request, template, base, status_code=status_code)

    def login_redirect(request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)

    def require_user(request: Request) -> User:
        user = session_user(request)
        if user is None:
            raise LoginRequired
        return user

    async def checked_form(request: Request) -> FormData:
        form = await request.form()
        if not same_token(str(form.get("csrf_token") or ""), request.session.get("csrf")):
            raise Forbidden("the form expired or did not come from this site; "
                            "reload the page and try again")
        return form

    def error_page(request: Request, error: ServiceError) -> HTMLResponse:
        return render(request, "error.html", {"error": error, "title": "Error"},
                      status_code=error.status)

    async def guarded(request: Request, handler: Any) -> Response:
        """Run a page handler; turn login needs and refusals into pages, not tracebacks."""
        try:
            response: Response = await handler()
        except LoginRequired:
            return login_redirect(request)
        except ServiceError as error:
            return error_page(request, error)
        return response

    # -- login -------------------------------------------------------------------------------

    @router.get("/")
    async def home(request: Request) -> Response:
        return RedirectResponse("/leads" if session_user(request) else "/login", status_code=303)

    @router.get("/login")
    async def login_page(request: Request, next: str = "/leads") -> Response:
        return render(request, "login.html", {"title": "Log in",
                                              "next": safe_next(next, faults),
                                              "error": None, "username": ""})

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        next_url = safe_next(str(form.get("next") or ""), faults)
        username = str(form.get("username") or "")
        if not same_token(str(form.get("csrf_token") or ""), request.session.get("csrf")):
            return render(request, "login.html", {
                "title": "Log in", "next": next_url, "username": username,
                "error": "The form expired; please try again."}, status_code=403)
        try:
            user = crm_of(request).authenticate(username, str(form.get("password") or ""),
                                                web_form=True)
        except ServiceError as error:
            message = ("This account is locked after repeated failed logins."
                       if error.status == 423 else "Invalid username or password.")
            return render(request, "login.html", {
                "title": "Log in", "next": next_url, "username": username, "error": message},
                status_code=error.status)
        # A fresh session on login: no fixation of a session planted before authentication.
        request.session.clear()
        request.session["username"] = user["username"]
        request.session["csrf"] = new_csrf_token()
        return RedirectResponse(next_url, status_code=303)

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        async def handle() -> Response:
            await checked_form(request)
            request.session.clear()
            flash(request, "You have logged out")
            return RedirectResponse("/login", status_code=303)

        return await guarded(request, handle)

    # -- lead-only pages (before the generic /{id} pages) ------------------------------------

    @router.get("/leads/import")
    async def import_page(request: Request) -> Response:
        async def handle() -> Response:
            require_user(request)
            return render(request, "import.html", {"title": "Import leads", "result": None,
                                                   "file_error": None})

        return await guarded(request, handle)

    @router.post("/leads/import")
    async def import_upload(request: Request) -> Response:
        async def handle() -> Response:
            user = require_user(request)
            if faults.active("csrf_convert_import_unchecked"):
                form = await request.form()  # the vendor forgot the token on the newer forms
            else:
                form = await checked_form(request)
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                return render(request, "import.html", {
                    "title": "Import leads", "result": None,
                    "file_error": "Choose a CSV file to import."}, status_code=422)
            content = await upload.read()
            try:
                result = crm_of(request).import_leads(user, content)
            except ValidationFailed as failure:
                return render(request, "import.html", {
                    "title": "Import leads", "result": None,
                    "file_error": "; ".join(failure.errors.get("file", ["invalid file"]))},
                    status_code=422)
            return render(request, "import.html", {
                "title": "Import leads", "result": result, "file_error": None,
                "message": f"Imported {result['imported']} leads"})

        return await guarded(request, handle)

    @router.get("/leads/export")
    async def export_page(request: Request) -> Response:
        async def handle() -> Response:
            require_user(request)
            query = {name: value for name, value in request.query_params.items()
                     if name in ("q", "status", "source", "owner", "sort") and value}
            href = "/leads/export.csv" + (f"?{urlencode(query)}" if query else "")
            return render(request, "export.html", {"title": "Export leads", "href": href,
                                                   "query": query})

        return await guarded(request, handle)

    @router.get("/leads/export.csv")
    async def export_download(request: Request) -> Response:
        async def handle() -> Response:
            user = require_user(request)
            params = request.query_params
            text = crm_of(request).export_leads(
                user, q=params.get("q", ""),
                filters={name: params.get(name) for name in ("status", "source", "owner")},
                sort=params.get("sort"))
            return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": 'attachment; filename="leads.csv"'})

        return await guarded(request, handle)

    @router.post("/leads/{record_id}/convert")
    async def convert(request: Request, record_id: int) -> Response:
        async def handle() -> Response:
            user = require_user(request)
            if faults.active("csrf_convert_import_unchecked"):
                await request.form()
            else:
                await checked_form(request)
            ids = crm_of(request).convert_lead(user, record_id)
            flash(request, "Lead converted")
            return RedirectResponse(f"/contacts/{ids['contact_id']}", status_code=303)

        return await guarded(request, handle)

    for entity in ENTITIES.values():
        _add_entity_pages(router, entity, faults, render, guarded, require_user, checked_form)

    return router


def _form_values(entity: EntitySpec, form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for spec in entity.fields:
        if spec.name in form:
            values[spec.name] = str(form.get(spec.name) or "")
    if form.get("owner"):
        values["owner"] = str(form.get("owner"))
    return values


def _add_entity_pages(router: APIRouter, entity: EntitySpec, faults: FaultSet, render: Any,
                      guarded: Any, require_user: Any, checked_form: Any) -> None:
    """List, new, detail, edit and delete pages for one entity."""
    base = f"/{entity.plural}"
    label = entity.label
    filter_names = FILTERS[entity.plural]
    # The missing_label fault removes exactly one label: the lead form's Email.
    unlabelled = ("email",) if entity is LEAD and faults.active("missing_label") else ()

    def owners(crm: Crm, user: User) -> list[str]:
        if user["role"] == "sales":
            return [user["username"]]
        return [row["username"] for row in crm.store.list_users() if row["role"] != "viewer"]

    def form_page(request: Request, user: User, record: dict[str, Any] | None,
                  values: dict[str, Any], errors: dict[str, list[str]],
                  status_code: int = 200) -> Response:
        editing = record is not None
        return render(request, "form.html", {
            "title": f"Edit {label.lower()}" if editing else f"New {label.lower()}",
            "entity": entity, "record": record, "values": values, "errors": errors,
            "action": f"{base}/{record['id']}/edit" if record else f"{base}/new",
            "owners": owners(crm_of(request), user), "unlabelled": unlabelled,
            "link_errors": not (entity is LEAD and faults.active("error_not_linked")),
            "save_tabindex": entity is LEAD and faults.active("mouse_only_save"),
        }, status_code=status_code)

    async def list_page(request: Request) -> Response:
        async def handle() -> Response:
            user = require_user(request)
            params = request.query_params
            try:
                page = max(1, int(params.get("page", "1") or "1"))
            except ValueError:
                page = 1
            q = params.get("q", "")
            chosen = {name: params.get(name, "") for name in filter_names}
            sort = params.get("sort") or None
            crm = crm_of(request)
            result = await crm.list_records(entity, user, q=q, filters=dict(chosen), sort=sort,
                                            page=page, page_size=20)
            keep = {"q": q, **chosen, "sort": sort or ""}
            keep = {name: value for name, value in keep.items() if value}

            def link(**changes: Any) -> str:
                query = {**keep, **{k: v for k, v in changes.items() if v}}
                return base + (f"?{urlencode(query)}" if query else "")

            first = (result.page - 1) * result.page_size + 1 if result.items else 0
            last = first + len(result.items) - 1 if result.items else 0
            choices = {name: (owners(crm, user) if name == "owner"
                              else entity.field(name).choices) for name in filter_names}
            return render(request, "list.html", {
                "title": f"{label}s" if entity.plural != "opportunities" else "Opportunities",
                "entity": entity, "result": result, "q": q, "chosen": chosen,
                "choices": choices, "first": first, "last": last,
                "prev_href": link(page=result.page - 1) if result.page > 1 else None,
                "next_href": link(page=result.page + 1) if last < result.total else None,
                "sort_href": lambda column: link(sort=column if sort != column else f"-{column}",
                                                 page=None),
                "export_href": "/leads/export" + (f"?{urlencode(keep)}" if keep else ""),
                "can_write": user["role"] != "viewer",
            })

        return await guarded(request, handle)

    async def new_page(request: Request) -> Response:
        async def handle() -> Response:
            user = require_user(request)
            crm_of(request).require_writer(user)
            defaults = {spec.name: spec.default for spec in entity.fields
                        if spec.default is not None}
            return form_page(request, user, None, defaults, {})

        return await guarded(request, handle)

    async def create(request: Request) -> Response:
        async def handle() -> Response:
            user = require_user(request)
            form = await checked_form(request)
            values = _form_values(entity, form)
            await crm_of(request).slow_write(entity)
            try:
                record = crm_of(request).create_record(entity, user, values)
            except ValidationFailed as failure:
                return form_page(request, user, None, values, failure.errors, status_code=422)
            if entity is LEAD and faults.active("slow_save_feedback"):
                late_flash(request)
            if not (entity is LEAD and faults.active("no_confirmation")):
                flash(request, f"{label} created")
            return RedirectResponse(f"{base}/{record['id']}", status_code=303)

        return await guarded(request, handle)

    async def detail(request: Request, record_id: int) -> Response:
        async def handle() -> Response:
            user = require_user(request)
            record = crm_of(request).get_record(entity, user, record_id)
            return render(request, "detail.html", {
                "title": f"{label} details", "entity": entity, "record": record,
                "can_write": user["role"] != "viewer",
                "fixed_width": entity is LEAD and faults.active("detail_scrolls_sideways"),
            })

        return await guarded(request, handle)

    async def edit_page(request: Request, record_id: int) -> Response:
        async def handle() -> Response:
            user = require_user(request)
            crm = crm_of(request)
            record = crm.get_record(entity, user, record_id)
            crm.require_writer(user)
            return form_page(request, user, record, dict(record), {})

        return await guarded(request, handle)

    async def update(request: Request, record_id: int) -> Response:
        async def handle() -> Response:
            user = require_user(request)
            form = await checked_form(request)
            crm = crm_of(request)
            record = crm.get_record(entity, user, record_id)
            values = _form_values(entity, form)
            try:
                crm.update_record(entity, user, record_id, values)
            except ValidationFailed as failure:
                return form_page(request, user, record, {**record, **values}, failure.errors,
                                 status_code=422)
            if entity is LEAD and faults.active("slow_save_feedback"):
                late_flash(request)
            if not (entity is LEAD and faults.active("no_confirmation")):
                flash(request, f"{label} updated")
            return RedirectResponse(f"{base}/{record_id}", status_code=303)

        return await guarded(request, handle)

    async def delete_page(request: Request, record_id: int) -> Response:
        async def handle() -> Response:
            user = require_user(request)
            crm = crm_of(request)
            record = crm.get_record(entity, user, record_id)
            crm.require_writer(user)
            return render(request, "delete.html", {"title": f"Delete {label.lower()}",
                                                   "entity": entity, "record": record})

        return await guarded(request, handle)

    async def delete(request: Request, record_id: int) -> Response:
        async def handle() -> Response:
            user = require_user(request)
            if faults.active("csrf_delete_unchecked"):
                await request.form()  # the vendor forgot the token check on delete pages
            else:
                await checked_form(request)
            crm_of(request).delete_record(entity, user, record_id)
            flash(request, f"{label} deleted")
            return RedirectResponse(base, status_code=303)

        return await guarded(request, handle)

    for path, handler, method in (
        (base, list_page, "GET"),
        (f"{base}/new", new_page, "GET"),
        (f"{base}/new", create, "POST"),
        (base + "/{record_id}", detail, "GET"),
        (base + "/{record_id}/edit", edit_page, "GET"),
        (base + "/{record_id}/edit", update, "POST"),
        (base + "/{record_id}/delete", delete_page, "GET"),
        (base + "/{record_id}/delete", delete, "POST"),
    ):
        router.add_api_route(path, handler, methods=[method], include_in_schema=False,
                             name=f"ui_{entity.plural}_{handler.__name__}")


__all__ = ["NotFound", "build_ui_router"]
