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
    with pytest.raises(ValueError, match="POST"):  # fuzzing never changes records
        Case.model_validate({"id": "F", "title": "fuzz", "steps": [
            {"fuzz": {"methods": ["POST"]}}]})
