"""Build the sandbox ASGI application (placeholder until the full app lands)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from crmqa.sandbox.config import SandboxSettings


def create_app(settings: SandboxSettings, on_started: Callable[[], None] | None = None) -> FastAPI:
    """The sandbox application for `settings`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if on_started:
            on_started()
        yield

    app = FastAPI(title="crmqa sandbox CRM", lifespan=lifespan)

    @app.get("/api/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
