"""The `fuzz:` step against a tiny real server that publishes an OpenAPI document.

The server answers 500 when `limit` is above 1000 (a defect only odd inputs reach), 200
otherwise, and names another host in `servers:`: fuzzing must find the defect with the request
that reproduces it, send everything to the target itself, and keep within its bounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crmqa.drivers.registry import StepDefect
from crmqa.fuzzing.driver import FuzzDriver
from crmqa.fuzzing.step import FuzzStep
from crmqa.plan.effects import case_effects
from crmqa.plan.models import Case
from crmqa.profiles.models import NoEquivalent
from tests.engine.conftest import FakeContext, Reply, Request, TinyServer, make_driver

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "tiny", "version": "1"},
    "servers": [{"url": "http://elsewhere.invalid"}],
    "paths": {
        "/items": {
            "get": {"parameters": [{"name": "limit", "in": "query",
                                    "schema": {"type": "integer"}}],
                    "responses": {"200": {"description": "ok"}}},
            "post": {"responses": {"201": {"description": "made"}}},
        },
        "/health": {"get": {"responses": {"200": {"description": "ok"}}}},
        "/slow": {"get": {"parameters": [{"name": "q", "in": "query",
                                          "schema": {"type": "string"}}],
                          "responses": {"200": {"description": "ok"}}}},
    },
}


def _crm(request: Request) -> Reply:
    if request.path == "/openapi.json":
        return 200, {}, DOCUMENT
    if request.path == "/items" and request.method == "GET":
        limit = request.q("limit")
        if limit is not None and limit.lstrip("-").isdigit() and int(limit) > 1000:
            return 500, {}, "Internal Server Error"
        return 200, {}, []
    if request.path == "/health":
        return 200, {}, {"status": "ok"}
    if request.path == "/slow":
        time.sleep(0.1)
        return 200, {}, []
    return 404, {}, {"detail": "not found"}


def _step(**spec: Any) -> FuzzStep:
    return FuzzStep.model_validate({"fuzz": spec})


@pytest.fixture
def fuzzing(tiny_server: Callable[..., TinyServer], tmp_path: Path
            ) -> tuple[TinyServer, FuzzDriver]:
    server = tiny_server(_crm)
    api = make_driver({"name": "tiny"}, server.base_url, tmp_path=tmp_path)
    return server, FuzzDriver(api.env)


def test_a_server_error_on_a_generated_input_fails_with_the_request(
        fuzzing: tuple[TinyServer, FuzzDriver]) -> None:
    server, driver = fuzzing
    output = driver.run(_step(exclude=["/slow"], max_examples=50, max_seconds=30),
                        FakeContext())  # type: ignore[arg-type]
    check = output.checks[0]
    assert not check.ok
    finding = output.data["findings"][0]
    assert finding["operation"] == "GET /items" and finding["status"] == 500
    assert "/items?limit=" in finding["request"] and finding["request"].startswith("curl")
    assert "reproduce with: curl -X GET" in check.message
    # Only safe methods, only the target: nothing posted, every request to this server.
    assert set(output.data["operations"]) == {"GET /items", "GET /health"}
    assert {r.method for r in server.requests} == {"GET"}
    assert output.attachments and "limit" in (output.attachments[0].text or "")
    driver.close()


def test_include_exclude_and_the_time_bound(fuzzing: tuple[TinyServer, FuzzDriver]) -> None:
    _, driver = fuzzing
    output = driver.run(_step(exclude=["/items", "/slow"], max_examples=5), FakeContext())  # type: ignore[arg-type]
    assert output.checks[0].ok and output.data["operations"] == ["GET /health"]
    assert output.data["requests"] >= 1 and output.data["statuses"] == {
        "2xx": output.data["requests"]}
    bounded = driver.run(_step(include=["/slow"], max_examples=1000, max_seconds=1),
                         FakeContext())  # type: ignore[arg-type]
    assert bounded.data["stopped"] and "time bound" in bounded.data["stopped"]
    assert bounded.data["requests"] < 1000
    driver.close()


def test_no_document_is_not_applicable_and_a_url_is_refused(
        fuzzing: tuple[TinyServer, FuzzDriver]) -> None:
    _, driver = fuzzing
    with pytest.raises(NoEquivalent, match=r"publishes no OpenAPI document at /nowhere\.json"):
        driver.run(_step(openapi="/nowhere.json"), FakeContext())  # type: ignore[arg-type]
    with pytest.raises(StepDefect, match="read from the target only"):
        driver.run(_step(openapi="http://elsewhere.invalid/openapi.json"), FakeContext())  # type: ignore[arg-type]
    driver.close()


def test_a_fuzz_step_is_a_step_kind_of_plans() -> None:
    case = Case.model_validate({"id": "F", "title": "fuzz", "steps": [
        {"fuzz": {"openapi": "/openapi.json", "max_examples": 5, "methods": ["GET"]}}]})
    step = case.steps[0]
    assert isinstance(step, FuzzStep) and step.surfaces() == {"http"}
    assert case_effects(case) == []  # reading: any target may run it
    writes = Case.model_validate({"id": "F", "title": "fuzz", "steps": [
        {"fuzz": {"methods": ["GET", "PATCH"]}}]})
    assert case_effects(writes) == ["changes"]  # writing: only a destructive_ok target
    with pytest.raises(ValueError, match="TRACE"):
        Case.model_validate({"id": "F", "title": "fuzz", "steps": [
            {"fuzz": {"methods": ["TRACE"]}}]})


# --------------------------------------------------------------------------- writes

ITEM = {"type": "object", "required": ["id", "name"],
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}
NEW_ITEM = {"type": "object", "required": ["name"], "additionalProperties": False,
            "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 5}}}
CHANGE = {"type": "object", "additionalProperties": False,
          "properties": {"name": {"type": "string", "maxLength": 5}}}
ID = [{"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
WRITES: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "items", "version": "1"},
    "paths": {
        "/items": {"post": {
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": NEW_ITEM}}},
            "responses": {"201": {"description": "made", "content": {
                "application/json": {"schema": ITEM}}}, "422": {"description": "refused"}}}},
        "/items/{item_id}": {
            "patch": {"parameters": ID, "requestBody": {
                "required": True, "content": {"application/json": {"schema": CHANGE}}},
                      "responses": {"200": {"description": "changed", "content": {
                          "application/json": {"schema": ITEM}}},
                                    "404": {"description": "none"},
                                    "422": {"description": "refused"}}},
            "delete": {"parameters": ID, "responses": {"204": {"description": "gone"},
                                                       "404": {"description": "none"}}}},
        "/admin/reset": {"post": {"responses": {"200": {"description": "everything gone"}}}},
    },
}
ITEMS_PROFILE = {"name": "items", "entities": {"lead": {
    "collection": "/items", "item": "/items/{id}",
    "operations": {"create": {"success": [201]}, "update": {"method": "PATCH"},
                   "delete": {"success": [204]}}}}}


class Items:
    """A CRM of items that validates what it is sent, unless told to have a defect."""

    def __init__(self, defect: str = "") -> None:
        self.defect = defect
        self.items: dict[int, dict[str, Any]] = {1: {"id": 1, "name": "seed"}}  # not ours
        self.next_id = 100

    def valid(self, body: Any, *, partial: bool) -> bool:
        if not isinstance(body, dict) or set(body) - {"name"}:
            return False
        if "name" not in body:
            return partial
        name = body["name"]
        return isinstance(name, str) and (partial or len(name) >= 1) and len(name) <= 5

    def __call__(self, request: Request) -> Reply:
        if request.path == "/openapi.json":
            return 200, {}, WRITES
        if request.path == "/admin/reset":
            self.items.clear()
            return 200, {}, {"reset": True}
        try:
            body = request.json()
        except ValueError:
            return 422, {}, {"detail": "not JSON"}
        if request.path == "/items" and request.method == "POST":
            if not self.valid(body, partial=False) and self.defect != "accepts_anything":
                return 422, {}, {"detail": "invalid"}
            self.next_id += 1
            item = {"id": self.next_id, "name": str((body or {}).get("name", "?"))
                    if isinstance(body, dict) else "?"}
            self.items[self.next_id] = item
            return 201, {}, item
        if request.path.startswith("/items/"):
            tail = request.path.rsplit("/", 1)[1]
            item_id = int(tail) if tail.isdigit() else -1
            if item_id not in self.items:
                return 404, {}, {"detail": "none"}
            if request.method == "DELETE":
                del self.items[item_id]
                return 204, {}, b""
            if not self.valid(body, partial=True):
                return 422, {}, {"detail": "invalid"}
            if self.defect == "empty_name_crashes" and body.get("name") == "":
                return 500, {}, "Internal Server Error"
            self.items[item_id].update(body)
            if self.defect == "answer_off_schema":
                return 200, {}, {"id": str(item_id)}
            return 200, {}, self.items[item_id]
        return 404, {}, {"detail": "not found"}


def _writer(tiny_server: Callable[..., TinyServer], tmp_path: Path, crm: Items
            ) -> tuple[TinyServer, FuzzDriver]:
    server = tiny_server(crm)
    api = make_driver(ITEMS_PROFILE, server.base_url, tmp_path=tmp_path)
    return server, FuzzDriver(api.env)


def _write_step(**spec: Any) -> FuzzStep:
    return _step(methods=["POST", "PATCH", "DELETE"], max_examples=15, max_seconds=60,
                 checks=["server_errors", "schema", "invalid_accepted"], **spec)


def test_writes_reach_only_records_of_their_own_and_hand_them_over_for_clean_up(
        tiny_server: Callable[..., TinyServer], tmp_path: Path) -> None:
    crm = Items()
    server, driver = _writer(tiny_server, tmp_path, crm)
    ctx = FakeContext()
    output = driver.run(_write_step(records={"lead": {"name": "mine"}}), ctx)  # type: ignore[arg-type]
    assert all(check.ok for check in output.checks), [c.message for c in output.checks]
    assert output.data["operations"] == ["POST /items (lead.create)",
                                         "PATCH /items/{item_id} (lead.update)",
                                         "DELETE /items/{item_id} (lead.delete)"]
    # A write the profile does not map is never sent: it could not be undone.
    assert not any(r.path == "/admin/reset" for r in server.requests)
    assert any("/admin/reset: not a write the profile maps" in s
               for s in output.data["skipped"])
    # Every record made (the step's own and each generated create) was handed over at once.
    made = [record_id for entity, record_id, _ in ctx.created if entity == "lead"]
    assert len(made) == output.data["created"] >= 2 and made[0] == 101
    # Writes to a record never touched the seeded one, only records of the step's own.
    touched = {int(r.path.rsplit("/", 1)[1]) for r in server.requests
               if r.method in ("PATCH", "DELETE")}
    assert touched and touched <= set(made) and 1 in crm.items
    # Invalid examples were sent, and refused.
    assert output.data["statuses"].get("4xx", 0) > 0
    driver.close()


@pytest.mark.parametrize(("defect", "kind", "operation"), [
    ("empty_name_crashes", "server error", "PATCH /items/{item_id} (lead.update)"),
    ("answer_off_schema", "answer off the declared schema",
     "PATCH /items/{item_id} (lead.update)"),
    ("accepts_anything", "invalid input accepted", "POST /items (lead.create)"),
])
def test_each_kind_of_finding_is_named_with_its_request(
        tiny_server: Callable[..., TinyServer], tmp_path: Path, defect: str, kind: str,
        operation: str) -> None:
    _, driver = _writer(tiny_server, tmp_path, Items(defect))
    output = driver.run(_write_step(records={"lead": {"name": "mine"}}), FakeContext())  # type: ignore[arg-type]
    failed = {check.name.split(" in ")[0]: check for check in output.checks if not check.ok}
    assert list(failed) == [f"no {kind}"], output.data["findings"]
    finding = next(f for f in output.data["findings"] if f["kind"] == kind)
    assert finding["operation"] == operation
    assert finding["request"].startswith(f"curl -X {operation.split()[0]} ")
    assert "reproduce with: curl" in failed[f"no {kind}"].message
    driver.close()


def test_without_a_record_of_its_own_a_write_to_one_is_left_out(
        tiny_server: Callable[..., TinyServer], tmp_path: Path) -> None:
    server, driver = _writer(tiny_server, tmp_path, Items())
    output = driver.run(_step(methods=["PATCH", "DELETE"], max_examples=5), FakeContext())  # type: ignore[arg-type]
    assert not [r for r in server.requests if r.method in ("PATCH", "DELETE")]
    assert any("no lead of fuzzing's own to write to" in s for s in output.data["skipped"])
    assert not output.checks[-1].ok and "no operation" in output.checks[-1].message
    driver.close()
