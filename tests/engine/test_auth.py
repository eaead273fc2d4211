"""Auth schemes against real tiny HTTP servers (the sandbox only offers a token endpoint)."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from crmqa.core.errors import EnvironmentProblem
from crmqa.plan.models import RequestStep

LEAD_PROFILE: dict[str, Any] = {"name": "p", "entities": {"lead": {"collection": "/leads",
                                                                 "operations": ["get"]}}}


def _profile(auth: dict[str, Any]) -> dict[str, Any]:
    return {**LEAD_PROFILE, "auth": auth}


def _get(path: str = "/leads/1") -> RequestStep:
    return RequestStep.model_validate({"request": {"path": path}})


def _ok(request: Any) -> tuple[int, dict[str, str], Any]:
    return 200, {}, {"id": 1}


def test_basic_auth_sends_the_identity_credentials(tiny_server, driver_factory, step_ctx):
    server = tiny_server(_ok)
    driver = driver_factory(_profile({"scheme": "basic"}), server.base_url,
                            identities={"default": {"default_username": "ann",
                                                    "password_env": "PW"}},
                            env={"PW": "s3cret-pw"})
    output = driver.run(_get(), step_ctx)
    assert output.status == 200
    expected = "Basic " + base64.b64encode(b"ann:s3cret-pw").decode()
    assert server.requests[0].headers["Authorization"] == expected
    # the evidence never shows the password or the header value
    text = step_ctx.kept[0][1]()
    assert "s3cret-pw" not in text and expected not in text
    assert "Authorization: [redacted]" in text


def test_bearer_token_from_env(tiny_server, driver_factory, step_ctx):
    server = tiny_server(_ok)
    driver = driver_factory(_profile({"scheme": "bearer"}), server.base_url,
                            identities={"default": {"token_env": "TOK"}}, env={"TOK": "tok-123"})
    driver.run(_get(), step_ctx)
    assert server.requests[0].headers["Authorization"] == "Bearer tok-123"


@pytest.mark.parametrize("location", ["header", "query"])
def test_api_key_in_header_or_query(tiny_server, driver_factory, step_ctx, location):
    server = tiny_server(_ok)
    driver = driver_factory(
        _profile({"scheme": "api_key", "location": location, "name": "api_key"}),
        server.base_url, identities={"default": {"api_key_env": "KEY"}}, env={"KEY": "key-999"},
    )
    output = driver.run(_get(), step_ctx)
    request = server.requests[0]
    if location == "header":
        assert request.headers["api_key"] == "key-999"
    else:
        assert request.q("api_key") == "key-999"
    assert "key-999" not in output.summary
    assert "key-999" not in step_ctx.kept[0][1]()


def test_missing_env_variable_is_an_environment_problem(tiny_server, driver_factory, step_ctx):
    server = tiny_server(_ok)
    driver = driver_factory(_profile({"scheme": "bearer"}), server.base_url,
                            identities={"default": {"token_env": "UNSET_TOKEN"}})
    with pytest.raises(EnvironmentProblem, match=r"UNSET_TOKEN"):
        driver.run(_get(), step_ctx)
    assert server.requests == []


def _oauth_server(tiny_server, grant: str) -> Any:
    def handle(request: Any) -> tuple[int, dict[str, str], Any]:
        if request.path == "/oauth/token":
            form = request.form()
            if form.get("grant_type") != grant:
                return 400, {}, {"error": "unsupported_grant_type"}
            if grant == "password" and (form.get("username"), form.get("password")) != (
                    "ann", "pw-ann-1"):
                return 401, {}, {"error": "invalid_grant"}
            if grant == "client_credentials":
                expected = "Basic " + base64.b64encode(b"cid:csecret").decode()
                if request.headers.get("Authorization") != expected:
                    return 401, {}, {"error": "invalid_client"}
            return 200, {}, {"access_token": "at-" + grant, "expires_in": 3600}
        if request.headers.get("Authorization") != "Bearer at-" + grant:
            return 401, {}, {"detail": "no"}
        return 200, {}, {"id": 1}

    return tiny_server(handle)


def test_oauth2_password_grant(tiny_server, driver_factory, step_ctx):
    server = _oauth_server(tiny_server, "password")
    driver = driver_factory(
        _profile({"scheme": "oauth2_password", "token_url": "/oauth/token"}), server.base_url,
        identities={"default": {"default_username": "ann", "password_env": "PW"}},
        env={"PW": "pw-ann-1"},
    )
    assert driver.run(_get(), step_ctx).status == 200
    assert driver.run(_get(), step_ctx).status == 200
    # one login, then the token is reused
    assert [r.path for r in server.requests] == ["/oauth/token", "/leads/1", "/leads/1"]
    login_evidence = step_ctx.kept[0][1]()
    assert "pw-ann-1" not in login_evidence and "at-password" not in login_evidence


def test_oauth2_client_credentials_with_basic_client_auth(tiny_server, driver_factory, step_ctx):
    server = _oauth_server(tiny_server, "client_credentials")
    driver = driver_factory(
        _profile({"scheme": "oauth2_client_credentials", "token_url": "/oauth/token"}),
        server.base_url,
        identities={"default": {"client_id_env": "CID", "client_secret_env": "CS"}},
        env={"CID": "cid", "CS": "csecret"},
    )
    assert driver.run(_get(), step_ctx).status == 200


def test_refused_login_is_an_environment_problem(tiny_server, driver_factory, step_ctx):
    server = _oauth_server(tiny_server, "password")
    driver = driver_factory(
        _profile({"scheme": "oauth2_password", "token_url": "/oauth/token"}), server.base_url,
        identities={"default": {"default_username": "ann", "password_env": "PW"}},
        env={"PW": "wrong-password"},
    )
    with pytest.raises(EnvironmentProblem, match=r"could not log in.*-> 401"):
        driver.run(_get(), step_ctx)


def test_generic_token_endpoint_with_form_body_and_query_token(tiny_server, driver_factory,
                                                                step_ctx):
    def handle(request: Any) -> tuple[int, dict[str, str], Any]:
        if request.path == "/session":
            form = request.form()
            if form != {"user_name": "ann", "secret": "pw-x-77", "app": "crmqa"}:
                return 401, {}, {"ok": False}
            return 200, {}, {"data": {"session": {"key": "sess-abc"}}}
        if request.q("sid") != "sess-abc":
            return 401, {}, {}
        return 200, {}, {"id": 1}

    server = tiny_server(handle)
    profile = _profile({
        "scheme": "token_endpoint", "path": "/session", "format": "form",
        "body": {"user_name": "{username}", "secret": "{password}", "app": "crmqa"},
        "token_path": "data.session.key", "use": {"query_param": "sid"},
    })
    driver = driver_factory(profile, server.base_url,
                            identities={"default": {"default_username": "ann",
                                                    "password_env": "PW"}},
                            env={"PW": "pw-x-77"})
    output = driver.run(_get(), step_ctx)
    assert output.status == 200
    assert "sess-abc" not in output.summary  # the token in the query string is redacted


def test_form_login_with_csrf_and_session_cookie(tiny_server, driver_factory, step_ctx):
    def handle(request: Any) -> tuple[int, dict[str, str], Any]:
        cookies = request.headers.get("Cookie", "")
        if request.path == "/login" and request.method == "GET":
            page = ('<form><input type="hidden" name="csrfmiddlewaretoken" value="csrf-1">'
                    "</form>")
            return 200, {"Set-Cookie": "csrftoken=csrf-cookie; Path=/"}, page
        if request.path == "/login":
            form = request.form()
            if form.get("csrfmiddlewaretoken") != "csrf-1" or form.get("password") != "pw-form":
                return 403, {}, "bad"
            return 302, {"Set-Cookie": "sessionid=sess-9; Path=/", "Location": "/home"}, ""
        if request.path == "/home":
            return 200, {}, "home"
        if "sessionid=sess-9" not in cookies:
            return 302, {"Location": "/login"}, ""
        if request.method == "POST" and request.headers.get("X-CSRFToken") != "csrf-cookie":
            return 403, {}, {"detail": "csrf"}
        return 200, {}, {"id": 1}

    server = tiny_server(handle)
    profile = _profile({
        "scheme": "form_login", "login_path": "/login", "csrf_field": "csrfmiddlewaretoken",
        "csrf_cookie": "csrftoken", "csrf_header": "X-CSRFToken", "session_cookie": "sessionid",
    })
    driver = driver_factory(profile, server.base_url,
                            identities={"default": {"default_username": "ann",
                                                    "password_env": "PW"}},
                            env={"PW": "pw-form"})
    assert driver.run(_get(), step_ctx).status == 200
    post = RequestStep.model_validate({"request": {"method": "POST", "path": "/leads",
                                                   "json": {"a": 1}}})
    assert driver.run(post, step_ctx).status == 200
    texts = "\n".join(render() for _, render in step_ctx.kept)
    assert "pw-form" not in texts and "sess-9" not in texts


def test_auth_false_sends_no_credentials(tiny_server, driver_factory, step_ctx):
    server = tiny_server(_ok)
    driver = driver_factory(_profile({"scheme": "bearer"}), server.base_url,
                            identities={"default": {"token_env": "TOK"}}, env={"TOK": "tok-1"})
    step = RequestStep.model_validate({"request": {"path": "/leads/1", "auth": False}})
    driver.run(step, step_ctx)
    assert "Authorization" not in server.requests[0].headers


def test_expired_token_is_renewed_before_the_next_call(tiny_server, driver_factory, step_ctx):
    issued: list[str] = []

    def handle(request: Any) -> tuple[int, dict[str, str], Any]:
        if request.path == "/token":
            issued.append(f"tok-{len(issued)}")
            # expires_in minus the 5 s safety margin leaves 0.2 s
            return 200, {}, {"access_token": issued[-1], "expires_in": 5.2}
        expected = f"Bearer {issued[-1]}" if issued else None
        return (200 if request.headers.get("Authorization") == expected else 401), {}, {}

    server = tiny_server(handle)
    profile = _profile({"scheme": "token_endpoint", "path": "/token",
                        "expires_path": "expires_in"})
    driver = driver_factory(profile, server.base_url,
                            identities={"default": {"default_username": "u",
                                                    "password_env": "PW"}},
                            env={"PW": "pw-exp"})
    assert driver.run(_get(), step_ctx).status == 200
    assert driver.run(_get(), step_ctx).status == 200
    assert issued == ["tok-0"]
    time.sleep(0.3)
    assert driver.run(_get(), step_ctx).status == 200
    assert issued == ["tok-0", "tok-1"]


def test_token_answer_moves_calls_to_its_base_url_and_logins_stay_put(tiny_server,
                                                                     driver_factory, step_ctx):
    """A login host apart from the data host: the token URL and scope are templates, the
    answer names where later calls go (`base_url_path`), and a login after expiry goes back
    to the login host, not to the host the first answer named."""
    issued: list[str] = []
    api = tiny_server(lambda request: (
        (200, {}, {"id": 1}) if issued and request.headers.get("Authorization") == (
            f"Bearer {issued[-1]}") else (401, {}, [{"errorCode": "INVALID_SESSION_ID"}])))

    def login(request: Any) -> tuple[int, dict[str, str], Any]:
        form = request.form()
        if request.path != "/tenant-7/oauth2/token" or form.get("scope") != (
                f"{login_host.base_url}/.default"):
            return 400, {}, {"error": "invalid_request"}
        issued.append(f"tok-{len(issued)}")
        # expires_in minus the 5 s safety margin leaves 0.2 s
        return 200, {}, {"access_token": issued[-1], "expires_in": 5.2,
                         "instance_url": api.base_url + "/"}

    login_host = tiny_server(login)
    driver = driver_factory(
        _profile({"scheme": "oauth2_client_credentials", "client_auth": "body",
                  "token_url": "/{{ env.TENANT_ID }}/oauth2/token",
                  "scope": "{{ target.base_url }}/.default",
                  "base_url_path": "instance_url"}),
        login_host.base_url,
        identities={"default": {"client_id_env": "CID", "client_secret_env": "CS"}},
        env={"CID": "cid", "CS": "csecret", "TENANT_ID": "tenant-7"})
    assert driver.run(_get(), step_ctx).status == 200
    assert [r.path for r in login_host.requests] == ["/tenant-7/oauth2/token"]
    assert [r.path for r in api.requests] == ["/leads/1"]
    time.sleep(0.3)
    assert driver.run(_get(), step_ctx).status == 200
    assert issued == ["tok-0", "tok-1"]
    assert len(login_host.requests) == 2 and len(api.requests) == 2


def test_a_token_answer_without_its_base_url_is_an_environment_problem(tiny_server,
                                                                      driver_factory,
                                                                      step_ctx):
    server = tiny_server(lambda request: (200, {}, {"access_token": "t", "instance_url": ""}))
    driver = driver_factory(
        _profile({"scheme": "oauth2_client_credentials", "token_url": "/token",
                  "base_url_path": "instance_url"}), server.base_url,
        identities={"default": {"client_id_env": "CID", "client_secret_env": "CS"}},
        env={"CID": "cid", "CS": "cs"})
    with pytest.raises(EnvironmentProblem, match=r"answered no base URL at 'instance_url'"):
        driver.run(_get(), step_ctx)
    assert [r.path for r in server.requests] == ["/token"]
