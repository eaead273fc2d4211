"""The API driver against tiny servers: environment problems, raw requests, import, adapters."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from crmqa.core.errors import EnvironmentProblem
from crmqa.core.events import subscribe
from crmqa.drivers.api.driver import StepArgumentError
from crmqa.plan.models import OpStep, RequestStep
from crmqa.profiles.adapter import OperationResult, ProfileAdapter

PROFILE: dict[str, Any] = {
    "name": "tiny",
    "entities": {"lead": {
        "collection": "/leads", "record_path": "lead_obj",
        "fields": {"email": "mail"},
        "operations": {"create": {"success": [201]}, "get": None, "delete": None},
        "import": {"path": "/leads/upload", "file_field": "csv", "mode": "two_step",
                   "preview_token_path": "token", "commit_path": "/leads/upload/{token}/go",
                   "columns": ["first_name", "email"], "imported_path": "n",
                   "ids_path": "created", "rejected_path": "bad"},
    }},
}


def _op(op: str, **args: Any) -> OpStep:
    return OpStep.model_validate({"op": op, "with": args})


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_is_an_environment_problem(driver_factory, step_ctx):
    driver = driver_factory(PROFILE, f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(EnvironmentProblem, match=r"cannot connect.*connection refused"):
        driver.run(_op("lead.get", id=1), step_ctx)
    assert "no response" in step_ctx.kept[0][1]()


def test_timeout_is_an_environment_problem(tiny_server, driver_factory, step_ctx):
    def slow(request: Any) -> tuple[int, dict[str, str], Any]:
        time.sleep(0.6)
        return 200, {}, {}

    server = tiny_server(slow)
    driver = driver_factory(PROFILE, server.base_url)
    step = OpStep.model_validate({"op": "lead.get", "with": {"id": 1}, "timeout_s": 0.2})
    with pytest.raises(EnvironmentProblem, match=r"no answer within 0.2 s"):
        driver.run(step, step_ctx)
    assert len(server.requests) == 1  # a read timeout is never retried


def test_garbage_where_json_was_expected(tiny_server, driver_factory, step_ctx):
    server = tiny_server(lambda r: (200, {"Content-Type": "text/html"}, "<html>proxy</html>"))
    driver = driver_factory(PROFILE, server.base_url)
    with pytest.raises(EnvironmentProblem, match=r"expected JSON, got text/html"):
        driver.run(_op("lead.get", id=1), step_ctx)


def test_wrapped_record_mapping_and_tracking(tiny_server, driver_factory, step_ctx):
    def handle(request: Any) -> tuple[int, dict[str, str], Any]:
        body = request.json()
        return 201, {}, {"lead_obj": {"id": 5, **body}}

    server = tiny_server(handle)
    driver = driver_factory(PROFILE, server.base_url)
    calls: list[Any] = []
    unsubscribe = subscribe(calls.append)
    try:
        output = driver.run(_op("lead.create", data={"email": "a@b.c"}), step_ctx)
    finally:
        unsubscribe()
    assert server.requests[0].json() == {"mail": "a@b.c"}
    assert output.outcome == "ok" and output.data["record"] == {"id": 5, "email": "a@b.c"}
    assert step_ctx.created == [("lead", 5, "anonymous")]
    assert [(c.kind, c.name, c.ok) for c in calls] == [("api", "POST /leads", True)]
    assert output.summary == "POST /leads -> 201"


def test_two_step_import_from_rows(tiny_server, driver_factory, step_ctx):
    def handle(request: Any) -> tuple[int, dict[str, str], Any]:
        if request.path == "/leads/upload":
            assert b'name="csv"' in request.body and b"first_name,mail" in request.body
            return 200, {}, {"token": "tk1"}
        assert request.path == "/leads/upload/tk1/go"
        return 200, {}, {"n": 1, "created": [11],
                         "bad": [{"row": 3, "errors": {"mail": ["invalid"]}}]}

    server = tiny_server(handle)
    driver = driver_factory(PROFILE, server.base_url)
    output = driver.run(_op("lead.import", rows=[{"first_name": "A", "email": "a@b.c"},
                                                 {"first_name": "B", "email": "nope"}]),
                        step_ctx)
    assert output.data["imported"] == 1 and output.data["ids"] == [11]
    assert output.data["rejected"] == [{"row": 3, "errors": {"email": ["invalid"]}}]
    assert step_ctx.created == [("lead", 11, "anonymous")]


def test_bad_arguments_are_a_step_defect(tiny_server, driver_factory, step_ctx):
    server = tiny_server(lambda r: (200, {}, {}))
    driver = driver_factory(PROFILE, server.base_url)
    with pytest.raises(StepArgumentError, match=r"import needs"):
        driver.run(_op("lead.import"), step_ctx)
    with pytest.raises(StepArgumentError, match=r"needs `id`"):
        driver.run(_op("lead.get"), step_ctx)


def test_raw_request_non_json_and_outcome(tiny_server, driver_factory, step_ctx):
    server = tiny_server(lambda r: (404, {"Content-Type": "text/plain"}, "nothing here"))
    driver = driver_factory(PROFILE, server.base_url)
    output = driver.run(RequestStep.model_validate(
        {"request": {"path": "/x", "params": {"a": "1"}}}), step_ctx)
    assert output.status == 404 and output.outcome == "not_found"
    assert output.data == {"text": "nothing here"}
    assert output.summary == "GET /x?a=1 -> 404"


class _RpcAdapter(ProfileAdapter):
    """A JSON-RPC style adapter for `lead.get`; other operations use the declarative map."""

    def perform(self, call: Any, http: Any) -> OperationResult | None:
        if call.operation != "get":
            return None
        answer = http.request("POST", "/rpc", json={"method": "lead.read",
                                                    "params": {"id": call.args["id"]}})
        record = answer.json()["result"]
        return OperationResult(outcome="ok", status=answer.status_code, record=record)


def test_adapter_extension_point(tiny_server, driver_factory, step_ctx):
    server = tiny_server(lambda r: (200, {}, {"result": {"id": r.json()["params"]["id"]}}))
    profile = {**PROFILE, "adapter": f"{__name__}:_RpcAdapter"}
    driver = driver_factory(profile, server.base_url)
    output = driver.run(_op("lead.get", id=3), step_ctx)
    assert output.data["record"] == {"id": 3}
    assert server.requests[0].path == "/rpc"
