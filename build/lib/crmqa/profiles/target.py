"""A target ready to run against: the plan's `Target`, its `Profile`, and credentials.

Credentials come from the environment, per identity, when the target is resolved. Secrets are
kept as `Secret` objects whose repr and str never show the value, so a stray log line or a
pydantic dump cannot leak them; `secrets()` lists the values so redaction can hide them
wherever they appear in evidence.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from crmqa.core.errors import EnvironmentProblem, PlanError, PlanIssue
from crmqa.plan.models import Credential, Target
from crmqa.plan.templating import TemplateRenderError, has_template, render, template_context
from crmqa.profiles.loader import resolve_profile
from crmqa.profiles.models import Profile


class Secret:
    """A secret value that never shows itself in repr, str or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass
class Identity:
    """One identity's credentials, resolved from the environment.

    `missing` names the environment variables the plan points to but that are unset; using
    such an identity raises an `EnvironmentProblem` naming them (never the values).
    """

    name: str
    username: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    api_key: Secret | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    missing: list[str] = field(default_factory=list)

    def require(self, *what: str) -> None:
        """Raise a clear EnvironmentProblem when a needed credential is not available."""
        absent = [w for w in what if getattr(self, w) is None]
        if absent:
            hint = f" (unset: {', '.join(self.missing)})" if self.missing else ""
            raise EnvironmentProblem(
                f"identity {self.name!r} has no {', '.join(absent)}{hint}: "
                "set the environment variables the plan's target names"
            )

    def placeholders(self) -> dict[str, str]:
        """Values for `{username}`-style placeholders in a profile's token body."""
        values: dict[str, str] = {}
        if self.username is not None:
            values["username"] = self.username
        for name in ("password", "token", "api_key", "client_secret"):
            secret = getattr(self, name)
            if secret is not None:
                values[name] = secret.reveal()
        if self.client_id is not None:
            values["client_id"] = self.client_id
        return values


ANONYMOUS = "anonymous"


def default_identity(declared: list[str]) -> str:
    """`default` if declared, else the only identity, else `admin`, else anonymous."""
    if "default" in declared:
        return "default"
    if len(declared) == 1:
        return declared[0]
    if "admin" in declared:
        return "admin"
    return ANONYMOUS


@dataclass
class ResolvedTarget:
    """A plan target with its profile and credentials, ready for the drivers."""

    name: str
    target: Target
    profile: Profile
    base_url: str
    identities: dict[str, Identity]
    # The environment the target was resolved from: the profile's `{{ env.NAME }}` templates
    # (a tenant header, say) read it.
    environment: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def __repr__(self) -> str:
        return (f"ResolvedTarget(name={self.name!r}, base_url={self.base_url!r}, "
                f"profile={self.profile.name!r}, identities={sorted(self.identities)})")

    @property
    def timeout_s(self) -> float:
        return self.target.timeout_s

    @property
    def default_identity(self) -> str:
        """The identity a step without `as:` acts as (see `default_identity`)."""
        return default_identity(list(self.identities))

    @property
    def admin_identity(self) -> str:
        """The identity that cleans up records a case created."""
        return "admin" if "admin" in self.identities else self.default_identity

    def identity(self, name: str | None) -> Identity:
        """The named identity (None: the default); an unknown name is a plan error."""
        name = name or self.default_identity
        if name == ANONYMOUS and name not in self.identities:
            return Identity(name=ANONYMOUS)
        try:
            return self.identities[name]
        except KeyError:
            known = ", ".join(sorted(self.identities)) or "none"
            raise PlanError(
                [PlanIssue(f"target {self.name!r} has no identity {name!r} (known: {known})")]
            ) from None

    def secrets(self) -> list[str]:
        """Every secret value of every identity, for redaction."""
        values: list[str] = []
        for ident in self.identities.values():
            for secret in (ident.password, ident.token, ident.api_key, ident.client_secret):
                if secret is not None and secret.reveal():
                    values.append(secret.reveal())
        return values


class _GivenEnv(dict[str, str]):
    """An explicit environment (tests, tools) standing in for os.environ in templates."""

    scope_path = "env"


def expand_target_value(text: str, what: str, env: Mapping[str, str]) -> str:
    """Render `{{ env.NAME }}` (filters such as `default(...)` included) in a target value."""
    if not has_template(text):
        return text
    context = template_context(fake=None, vars={}, saved={})  # type: ignore[arg-type]
    if env is not os.environ:
        context["env"] = _GivenEnv(env)
    try:
        return str(render(text, context))
    except TemplateRenderError as exc:
        raise EnvironmentProblem(f"{what}: {exc.message}") from None


def resolve_identity(name: str, credential: Credential, env: Mapping[str, str]) -> Identity:
    """Read one identity's credentials from the environment."""
    missing: list[str] = []

    def read(var: str | None) -> str | None:
        if not var:
            return None
        value = env.get(var)
        if value is None:
            missing.append(var)
        return value

    def secret(var: str | None) -> Secret | None:
        value = read(var)
        return Secret(value) if value is not None else None

    username = read(credential.username_env) if credential.username_env else None
    if username is None:
        username = credential.default_username
        if username is not None and credential.username_env in missing:
            missing.remove(credential.username_env)  # the default stands in for it
    return Identity(
        name=name,
        username=username,
        password=secret(credential.password_env),
        token=secret(credential.token_env),
        api_key=secret(credential.api_key_env),
        client_id=read(credential.client_id_env),
        client_secret=secret(credential.client_secret_env),
        missing=missing,
    )


def resolve_target(
    name: str,
    target: Target,
    base_dir: Path,
    env: Mapping[str, str] | None = None,
    profile: Profile | None = None,
) -> ResolvedTarget:
    """Resolve a plan target: load its profile, expand `{{ env.X }}` in the URL, read secrets."""
    env = os.environ if env is None else env
    profile = profile or resolve_profile(target.profile, base_dir)
    base_url = expand_target_value(target.base_url, f"target {name!r} base_url", env).rstrip("/")
    identities = {
        ident: resolve_identity(ident, credential, env)
        for ident, credential in target.identities.items()
    }
    return ResolvedTarget(
        name=name, target=target, profile=profile, base_url=base_url, identities=identities,
        environment=env,
    )
