"""Account lockout as a state machine: active -> locked after N failed logins -> unlocked.

A login is not a canonical operation, so the plan names its login request (the path and the
body, with `{username}` and `{password}` where the values go). Each case makes a user of its
own with `user.create` (as the target's default identity, an administrator), so that locking
it never locks out the identities other cases use; the engine deletes it afterwards.

    lockout:
      login: {method: POST, path: /api/auth/token,
              json: {username: "{username}", password: "{password}"}}
      attempts: 5
      user: {role: sales}          # more fields the CRM needs to create a user

Cases: N-1 failed logins leave the account usable; N lock it (the right password is then
refused); an administrator's `user.update {locked: false}` opens it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from crmqa.plan.generators.context import GenerationContext
from crmqa.plan.generators.registry import Generator, register_generator
from crmqa.plan.generators.writing import CaseDefaults, case, op, saved
from crmqa.plan.models import Strict

__all__ = ["LockoutSection", "LoginRequest"]

PREFIX = "GEN-LOCK"
_USERNAME = "lock{{ unique | replace('-', '') }}"
_PASSWORD = "Right-{{ unique }}-pw"
_WRONG = "Wrong-{{ unique }}-pw"


class LoginRequest(Strict):
    """How one logs in through the API, with {username} and {password} placeholders."""

    method: Literal["POST", "PUT"] = Field("POST", description="HTTP method")
    path: str = Field(description="path of the login request")
    json_: dict[str, Any] | None = Field(None, alias="json", description="JSON body")
    data: dict[str, Any] | None = Field(None, description="form body")


class LockoutSection(CaseDefaults):
    """Account lockout after repeated failed logins."""

    login: LoginRequest = Field(description="the login request")
    attempts: int = Field(5, ge=1, le=50, description="failed logins that lock an account")
    user: dict[str, Any] = Field(default_factory=dict,
                                 description="more values `user.create` needs (role...)")
    password_field: str = Field("password", description="the user field holding the password")
    severity: str = Field("critical", description="severity of the generated cases")
    priority: str = Field("high", description="priority of the generated cases")


def _fill(value: Any, password: str) -> Any:
    if isinstance(value, str):
        return value.replace("{username}", _USERNAME).replace("{password}", password)
    if isinstance(value, dict):
        return {k: _fill(v, password) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, password) for v in value]
    return value


def _login(section: LockoutSection, password: str, expect: dict[str, Any], name: str
           ) -> dict[str, Any]:
    request: dict[str, Any] = {"method": section.login.method, "path": section.login.path,
                               "auth": False}
    if section.login.json_ is not None:
        request["json"] = _fill(section.login.json_, password)
    if section.login.data is not None:
        request["data"] = _fill(section.login.data, password)
    return {"name": name, "request": request, "expect": expect}


def _failures(section: LockoutSection, count: int) -> list[dict[str, Any]]:
    return [_login(section, _WRONG, {"outcome": ["unauthorized", "forbidden"]},
                   f"failed login {n} of {count}") for n in range(1, count + 1)]


def generate(context: GenerationContext, section: LockoutSection) -> Iterator[dict[str, Any]]:
    """Below the threshold, at it, and unlocking."""
    data = {"username": _USERNAME, section.password_field: _PASSWORD,
            "email": _USERNAME + "@example.com", **section.user}
    setup = [op("user.create", {"data": data}, name="create a user of the case's own",
                expect={"outcome": "ok"}, save={"user_id": "record.id"})]
    works = _login(section, _PASSWORD, {"outcome": "ok"}, "the right password works")
    locked = _login(section, _PASSWORD, {"outcome": ["forbidden", "unauthorized"]},
                    "the right password is refused: the account is locked")
    below = section.attempts - 1
    yield case(section, PREFIX, ["below-threshold"],
               f"{below} failed logins do not lock an account", module="users",
               category="security", setup=setup, steps=[*_failures(section, below), works],
               tags=["lockout", "state-transition"])
    yield case(section, PREFIX, ["locks"],
               f"{section.attempts} failed logins lock an account", module="users",
               category="security", setup=setup,
               steps=[*_failures(section, section.attempts), locked],
               tags=["lockout", "state-transition"])
    unlock = op("user.update", {"id": saved("user_id"), "data": {"locked": False}},
                name="an administrator unlocks the account", expect={"outcome": "ok"})
    yield case(section, PREFIX, ["unlock"],
               "an administrator unlocks a locked account", module="users",
               category="security", setup=[*setup, *_failures(section, section.attempts)],
               steps=[locked, unlock, works], tags=["lockout", "state-transition"])


register_generator(Generator(
    key="lockout",
    section=LockoutSection,
    generate=generate,
    summary="account lockout after repeated failed logins, and unlocking",
))
