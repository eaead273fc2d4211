"""The sandbox's REST API under /api (see "Sandbox API contract" in docs/architecture.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from crmqa.sandbox.entities import ENTITIES, LEAD, ROLES, EntitySpec
from crmqa.sandbox.services import Crm, NotAuthenticated, User, ValidationFailed

JsonBody = Annotated[dict[str, Any], Body(...)]


def crm_of(request: Request) -> Crm:
    """The `Crm` of the application serving this request."""
    crm: Crm = request.app.state.crm
    return crm


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def optional_user(request: Request) -> User | None:
    """The user behind the bearer token, or None when there is no valid token."""
    token = bearer_token(request)
    return crm_of(request).user_for_token(token) if token else None


def current_user(request: Request) -> User:
    """The user behind the bearer token; 401 without a valid one."""
    user = optional_user(request)
    if user is None:
        raise NotAuthenticated("not authenticated")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]


def page_body(items: list[dict[str, Any]], total: int, page: int, page_size: int
              ) -> dict[str, Any]:
    return {"items": items, "total": total, "page": page, "page_size": page_size}


def build_api_router() -> APIRouter:
    """All /api routes."""
    router = APIRouter(prefix="/api")

    @router.get("/health", tags=["meta"])
    async def health() -> dict[str, str]:
        """Liveness: answers without authentication."""
        return {"status": "ok"}

    @router.post("/auth/token", tags=["auth"])
    async def token(request: Request, payload: JsonBody) -> JSONResponse:
        """Exchange a username and password for a bearer token (401 bad, 423 locked)."""
        username, password = payload.get("username"), payload.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise ValidationFailed({
                name: ["this field is required"] for name in ("username", "password")
                if not isinstance(payload.get(name), str)})
        crm = crm_of(request)
        user = crm.authenticate(username, password)
        return JSONResponse({"access_token": crm.tokens.issue(user["username"]),
                             "token_type": "bearer",
                             "expires_in": crm.settings.token_ttl_seconds})

    @router.post("/admin/reset", tags=["meta"])
    async def reset(request: Request, user: CurrentUser) -> dict[str, str]:
        """Back to the seeded data (admin only; for tests)."""
        crm = crm_of(request)
        crm.require_admin(user)
        crm.reset()
        return {"status": "reset"}

    # Lead-only operations come before the generic /{id} routes.
    @router.post("/leads/import", tags=["leads"])
    async def import_leads(request: Request, user: CurrentUser,
                           file: Annotated[UploadFile, File()]) -> JSONResponse:
        """Import leads from a UTF-8 CSV with a header row; rejected rows are reported."""
        content = await file.read()
        return JSONResponse(crm_of(request).import_leads(user, content))

    @router.get("/leads/export", tags=["leads"])
    async def export_leads(
        request: Request, user: CurrentUser, q: str = "", status: str | None = None,
        source: str | None = None, owner: str | None = None, sort: str | None = None,
    ) -> Response:
        """All matching leads as CSV (UTF-8, header row first)."""
        text = crm_of(request).export_leads(
            user, q=q, filters={"status": status, "source": source, "owner": owner}, sort=sort)
        return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="leads.csv"'})

    @router.post("/leads/{record_id}/convert", tags=["leads"])
    async def convert_lead(request: Request, user: CurrentUser, record_id: int) -> JSONResponse:
        """Turn a qualified lead into a contact, an account and an opportunity."""
        return JSONResponse(crm_of(request).convert_lead(user, record_id))

    for entity in ENTITIES.values():
        _add_entity_routes(router, entity)

    @router.get("/roles", tags=["users"])
    async def list_roles(user: CurrentUser) -> dict[str, Any]:
        """The four roles and what each may do."""
        items = [{"name": name, "description": text} for name, text in ROLES.items()]
        return page_body(items, len(items), 1, len(items))

    @router.get("/users", tags=["users"])
    async def list_users(request: Request, user: CurrentUser) -> JSONResponse:
        """Every user (no password hashes)."""
        items = crm_of(request).list_users(user)
        return JSONResponse(page_body(items, len(items), 1, len(items)))

    @router.post("/users", tags=["users"], status_code=201)
    async def create_user(request: Request, user: CurrentUser, payload: JsonBody
                          ) -> JSONResponse:
        """Create a user (admin only): username, password (8+), role, full_name, email."""
        return JSONResponse(crm_of(request).create_user(user, payload), status_code=201)

    @router.get("/users/{user_id}", tags=["users"])
    async def get_user(request: Request, user: CurrentUser, user_id: int) -> JSONResponse:
        """One user."""
        return JSONResponse(crm_of(request).get_user(user, user_id))

    @router.patch("/users/{user_id}", tags=["users"])
    async def update_user(request: Request, user: CurrentUser, user_id: int,
                          payload: JsonBody) -> JSONResponse:
        """Change a user (admin only): role, password, full_name, email, active, locked."""
        return JSONResponse(crm_of(request).update_user(user, user_id, payload))

    @router.delete("/users/{user_id}", tags=["users"], status_code=204)
    async def delete_user(request: Request, user: CurrentUser, user_id: int) -> Response:
        """Delete a user (admin only)."""
        crm_of(request).delete_user(user, user_id)
        return Response(status_code=204)

    return router


def _add_entity_routes(router: APIRouter, entity: EntitySpec) -> None:
    """List, create, get, update and delete for one entity."""
    path = f"/{entity.plural}"
    tag = entity.plural

    async def list_records(
        request: Request, user: OptionalUser,
        q: str = "", status: str | None = None, source: str | None = None,
        owner: str | None = None, stage: str | None = None, type: str | None = None,
        priority: str | None = None, sort: str | None = None,
        page: Annotated[int, Query()] = 1, page_size: Annotated[int, Query()] = 20,
    ) -> JSONResponse:
        filters = {"status": status, "source": source, "owner": owner, "stage": stage,
                   "type": type, "priority": priority}
        crm = crm_of(request)
        # unauth_contact_list: one list endpoint lost its authentication dependency.
        if user is None and not (entity.plural == "contacts"
                                 and crm.faults.active("unauth_contact_list")):
            raise NotAuthenticated("not authenticated")
        result = await crm.list_records(
            entity, user, q=q, filters=filters, sort=sort, page=page, page_size=page_size)
        return JSONResponse(page_body(result.items, result.total, result.page,
                                      result.page_size))

    async def create_record(request: Request, user: CurrentUser, payload: JsonBody
                            ) -> JSONResponse:
        crm = crm_of(request)
        await crm.slow_write(entity)
        return JSONResponse(crm.create_record(entity, user, payload), status_code=201)

    async def get_record(request: Request, user: CurrentUser, record_id: int) -> JSONResponse:
        return JSONResponse(crm_of(request).get_record(entity, user, record_id))

    async def update_record(request: Request, user: CurrentUser, record_id: int,
                            payload: JsonBody) -> JSONResponse:
        return JSONResponse(crm_of(request).update_record(entity, user, record_id, payload))

    async def delete_record(request: Request, user: OptionalUser, record_id: int) -> Response:
        crm_of(request).delete_record(entity, user, record_id)
        return Response(status_code=204)

    label = entity.label.lower()
    list_records.__doc__ = (f"Search, filter, sort and page {entity.plural} "
                            f"(q searches {', '.join(entity.search_fields)}).")
    create_record.__doc__ = f"Create a {label}; 422 with field errors when invalid."
    get_record.__doc__ = f"One {label}; 404 when missing or not yours."
    update_record.__doc__ = f"Change some fields of a {label}."
    delete_record.__doc__ = f"Delete a {label}."
    if entity is LEAD:
        list_records.__doc__ += " Filters: status, source, owner."
    router.add_api_route(path, list_records, methods=["GET"], tags=[tag],
                         name=f"list_{entity.plural}")
    router.add_api_route(path, create_record, methods=["POST"], tags=[tag], status_code=201,
                         name=f"create_{entity.name}")
    router.add_api_route(path + "/{record_id}", get_record, methods=["GET"], tags=[tag],
                         name=f"get_{entity.name}")
    router.add_api_route(path + "/{record_id}", update_record, methods=["PATCH"], tags=[tag],
                         name=f"update_{entity.name}")
    router.add_api_route(path + "/{record_id}", delete_record, methods=["DELETE"], tags=[tag],
                         status_code=204, name=f"delete_{entity.name}")
