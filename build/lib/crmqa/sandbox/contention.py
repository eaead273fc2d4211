"""Seeded faults that show only under concurrency (see the block in crmqa/sandbox/faults.py).

`concurrent_writes_fail`: a lead write through the API holds the database for a moment (a
vendor's slow audit trigger), and a write that finds `WRITE_SLOTS` others still in flight
fails at once with 500 "database is locked" instead of waiting its turn. One request at a
time never meets it (it only takes `WRITE_HOLD_SECONDS` longer); a handful of users saving
leads together do, as an error rate.
"""

from __future__ import annotations

import asyncio
import json
import re

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from crmqa.sandbox.faults import FaultSet

WRITE_SLOTS = 3
WRITE_HOLD_SECONDS = 0.05
_LEAD_WRITE = re.compile(r"^/api/leads(/\d+|/import)?/?$")
_LOCKED = json.dumps({"detail": "database is locked"}).encode()


class ConcurrentWritesFail:
    """ASGI wrapper: the `concurrent_writes_fail` fault."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] == "http" and scope["method"] in ("POST", "PATCH", "DELETE")
                and _LEAD_WRITE.match(scope["path"])):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= WRITE_SLOTS:
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": _LOCKED})
            return
        self.in_flight += 1
        try:
            await asyncio.sleep(WRITE_HOLD_SECONDS)
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def add_concurrency_faults(app: Starlette, faults: FaultSet) -> None:
    """Switch on, around `app`, the concurrency faults of `faults`."""
    if faults.active("concurrent_writes_fail"):
        app.add_middleware(ConcurrentWritesFail)
