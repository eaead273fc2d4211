"""Build the sandbox ASGI application: REST API, web UI, security headers, error shapes."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crmqa.sandbox.api import build_api_router
from crmqa.sandbox.config import SandboxSettings
from crmqa.sandbox.contention import add_concurrency_faults
from crmqa.sandbox.services import Crm, NotAuthenticated, ServiceError, ValidationFailed
from crmqa.sandbox.ui import build_ui_router

HERE = Path(__file__).parent

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityHeaders:
    """Adds security headers to every response (a plain ASGI wrapper: no per-request cost
    beyond appending a few headers, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, cookie_without_httponly: bool = False) -> None:
        self.app = app
        # The session_cookie_not_httponly fault: a proxy rewrites the cookie and drops a flag.
        self.cookie_without_httponly = cookie_without_httponly

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if self.cookie_without_httponly:
                    headers = [(name, _without_httponly(value) if name == b"set-cookie"
                                else value) for name, value in headers]
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _without_httponly(cookie: bytes) -> bytes:
    parts = [part for part in cookie.split(b";") if part.strip().lower() != b"httponly"]
    return b";".join(parts)


# What the sandbox answers to a refused request (the handlers above), as its OpenAPI declares it.
ERROR_BODY: dict[str, Any] = {
    "title": "Error", "type": "object", "required": ["detail"],
    "properties": {
        "detail": {"title": "Detail", "type": "string"},
        "errors": {"title": "Errors", "type": "object",
                   "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
}


def _describe_errors_as_answered(app: FastAPI) -> None:
    """The document declares the error body the sandbox sends, not FastAPI's default list of
    validation errors (a schema-conformance check of the answers holds the document to it)."""
    generate = app.openapi

    def document() -> dict[str, Any]:
        schema = generate()
        schemas = schema.get("components", {}).get("schemas", {})
        if "HTTPValidationError" in schemas:
            schemas["HTTPValidationError"] = ERROR_BODY
        return schema

    app.openapi = document  # type: ignore[method-assign]


def _field_of(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path")]
    return ".".join(parts) or str(location[0] if location else "request")


def create_app(settings: SandboxSettings, on_started: Callable[[], None] | None = None) -> FastAPI:
    """The sandbox application for `settings`; `on_started` runs once the server listens."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if on_started:
            on_started()
        yield
        app.state.crm.store.conn.close()

    app = FastAPI(
        title="crmqa sandbox CRM",
        version="1.0",
        description="A small reference CRM for acceptance testing, with optional seeded faults.",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.crm = Crm(settings)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        body: dict[str, Any] = {"detail": exc.detail}
        if isinstance(exc, ValidationFailed):
            body["errors"] = exc.errors
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors: dict[str, list[str]] = {}
        for error in exc.errors():
            errors.setdefault(_field_of(tuple(error.get("loc", ()))), []).append(
                str(error.get("msg", "invalid")))
        return JSONResponse({"detail": "validation failed", "errors": errors}, status_code=422)

    @app.exception_handler(sqlite3.Error)
    async def database_error(request: Request, exc: sqlite3.Error) -> JSONResponse:
        # Only reachable through the sql_injection_search fault: a vendor's generic 500.
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    app.include_router(build_api_router())
    _describe_errors_as_answered(app)
    app.include_router(build_ui_router(settings.faults))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(SessionMiddleware, secret_key=secrets.token_urlsafe(32),
                       session_cookie="crmqa_session", same_site="lax", max_age=8 * 3600)
    app.add_middleware(SecurityHeaders, cookie_without_httponly=settings.faults.active(
        "session_cookie_not_httponly"))
    add_concurrency_faults(app, settings.faults)  # faults that show only under load
    if settings.latency_ms > 0:
        app.add_middleware(Latency, seconds=settings.latency_ms / 1000)
    return app


class Latency:
    """Holds every HTTP request for a fixed time before serving it (a distant CRM)."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(self.seconds)
        await self.app(scope, receive, send)
