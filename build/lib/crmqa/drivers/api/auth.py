"""Authentication schemes: how an `ApiSession` proves who it is.

`configure(session, spec, identity)` sets static credentials (basic, bearer, API key) on the
session at once, and installs a lazy login for schemes that need one (OAuth2 grants, a token
endpoint, a login form). A login happens on the first authenticated call and again when the
token's `expires_in` has passed. A login the CRM refuses is an environment problem: the
plan's credentials are wrong or the account is locked, not a product defect.
"""

from __future__ import annotations

import re
import time
from typing import Any

from crmqa.checks.paths import search_path
from crmqa.core.errors import EnvironmentProblem
from crmqa.drivers.api.session import ApiSession
from crmqa.profiles.models import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    FormLoginAuth,
    NoAuth,
    OAuth2ClientCredentialsAuth,
    OAuth2PasswordAuth,
    TokenEndpointAuth,
    TokenUse,
)
from crmqa.profiles.target import ANONYMOUS, Identity
from crmqa.profiles.templates import render_value

_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_EXPIRY_MARGIN_S = 5.0


def configure(session: ApiSession, spec: Any, identity: Identity) -> None:
    """Make `session` authenticate as `identity` using the profile's auth `spec`."""
    if identity.name == ANONYMOUS or isinstance(spec, NoAuth):
        return
    if isinstance(spec, BasicAuth):
        identity.require("username", "password")
        assert identity.password is not None
        session.http.auth = (identity.username or "", identity.password.reveal())
    elif isinstance(spec, BearerAuth):
        identity.require("token")
        assert identity.token is not None
        session.http.headers[spec.header] = spec.prefix + identity.token.reveal()
    elif isinstance(spec, ApiKeyAuth):
        identity.require("api_key")
        assert identity.api_key is not None
        value = spec.prefix + identity.api_key.reveal()
        if spec.location == "header":
            session.http.headers[spec.name] = value
        else:
            session.http.params = {spec.name: value}  # type: ignore[assignment]
    elif isinstance(spec, OAuth2PasswordAuth | OAuth2ClientCredentialsAuth | TokenEndpointAuth):
        session.before_send = _TokenLogin(spec, identity)
    elif isinstance(spec, FormLoginAuth):
        login = _FormLogin(spec, identity)
        session.before_send = login
        if spec.csrf_cookie and spec.csrf_header:
            session.extra_headers = login.csrf_headers_for(session)
    else:  # pragma: no cover - the profile model admits no other scheme
        raise TypeError(f"unknown auth scheme {spec!r}")


class _TokenLogin:
    """Obtains a token once (and again after expiry) and sets it on the session."""

    def __init__(
        self,
        spec: OAuth2PasswordAuth | OAuth2ClientCredentialsAuth | TokenEndpointAuth,
        identity: Identity,
    ) -> None:
        self.spec = spec
        self.identity = identity
        self.expires_at: float | None = None
        self.logged_in = False
        # Where the token endpoint is: the target's base URL, kept apart from the base URL a
        # token answer may move later calls to (`base_url_path`).
        self.login_base: str | None = None

    def __call__(self, session: ApiSession) -> None:
        if self.logged_in and (self.expires_at is None or time.monotonic() < self.expires_at):
            return
        answer = self._request_token(session)
        token = search_path(self.spec.token_path, answer)
        if not isinstance(token, str) or not token:
            raise EnvironmentProblem(
                f"login for identity {self.identity.name!r} answered no token at "
                f"{self.spec.token_path!r}"
            )
        session.redactor.add_secret(token)
        _use_token(session, self.spec.use, token)
        if self.spec.base_url_path:
            session.base_url = self._base_url(answer)
        expires = search_path(self.spec.expires_path, answer) if self.spec.expires_path else None
        self.expires_at = (
            time.monotonic() + float(expires) - _EXPIRY_MARGIN_S
            if isinstance(expires, int | float) and expires > 0 else None
        )
        self.logged_in = True

    def _base_url(self, answer: Any) -> str:
        """The base URL the token answer names for later calls (an `instance_url`); an
        answer without one is an environment problem."""
        path = self.spec.base_url_path or ""
        value = search_path(path, answer)
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise EnvironmentProblem(
                f"login for identity {self.identity.name!r} answered no base URL at "
                f"{path!r} (got {value!r})"
            )
        return value.rstrip("/")

    def _request_token(self, session: ApiSession) -> Any:
        spec = self.spec
        if self.login_base is None:
            self.login_base = session.base_url
        ident = self.identity
        auth: tuple[str, str] | None = None
        if isinstance(spec, TokenEndpointAuth):
            values = ident.placeholders()
            body: dict[str, str] = {}
            for key, template in spec.body.items():
                body[key] = _fill(template, values, ident)
            kwargs: dict[str, Any] = {"json": body} if spec.format == "json" else {"data": body}
            method, path = spec.method, spec.path
        else:
            form: dict[str, str] = {}
            if isinstance(spec, OAuth2PasswordAuth):
                ident.require("username", "password")
                assert ident.password is not None
                form.update(grant_type="password", username=ident.username or "",
                            password=ident.password.reveal())
            else:
                ident.require("client_id", "client_secret")
                form["grant_type"] = "client_credentials"
            if spec.scope:
                # A scope may name the installation (`{{ target.base_url }}/.default`).
                form["scope"] = str(render_value(spec.scope, session.template_context,
                                                 "auth.scope"))
            if ident.client_id is not None and spec.client_auth != "none":
                secret = ident.client_secret.reveal() if ident.client_secret else ""
                if spec.client_auth == "basic":
                    auth = (ident.client_id, secret)
                else:
                    form["client_id"] = ident.client_id
                    if secret:
                        form["client_secret"] = secret
            kwargs = {"data": form}
            # The token endpoint may be another host, named per tenant from the environment.
            method = "POST"
            path = str(render_value(spec.token_url, session.template_context,
                                    "auth.token_url"))
        if not path.startswith(("http://", "https://")):
            # A login again after expiry goes to the token endpoint, not to the base URL
            # the first token answer moved this session to.
            path = f"{self.login_base}/{path.lstrip('/')}"
        # The login call goes through the session (evidence, events) but not through auth.
        saved_auth = session.http.auth
        session.http.auth = auth
        try:
            exchange = session.send(method, path, authenticate=False, **kwargs)
        finally:
            session.http.auth = saved_auth
        response = exchange.response
        assert response is not None
        if response.status_code >= 400:
            raise EnvironmentProblem(
                f"identity {ident.name!r} could not log in: {exchange.summary()}"
            )
        try:
            return response.json()
        except ValueError:
            raise EnvironmentProblem(
                f"login for identity {ident.name!r} answered no JSON: {exchange.summary()}"
            ) from None


def _fill(template: str, values: dict[str, str], identity: Identity) -> str:
    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            identity.require(key)
        return values[key]

    return re.sub(r"\{(username|password|token|api_key|client_id|client_secret)\}", replace,
                  template)


def _use_token(session: ApiSession, use: TokenUse, token: str) -> None:
    if use.query_param:
        session.http.params = {use.query_param: token}  # type: ignore[assignment]
    else:
        session.http.headers[use.header] = use.prefix + token


class _FormLogin:
    """Logs in through an HTML form once; the session cookie then rides on every call."""

    _HIDDEN = r'name=["\']{field}["\'][^>]*value=["\']([^"\']*)["\']'
    _HIDDEN_REVERSED = r'value=["\']([^"\']*)["\'][^>]*name=["\']{field}["\']'

    def __init__(self, spec: FormLoginAuth, identity: Identity) -> None:
        self.spec = spec
        self.identity = identity
        self.logged_in = False

    def __call__(self, session: ApiSession) -> None:
        if self.logged_in:
            return
        spec = self.spec
        ident = self.identity
        ident.require("username", "password")
        assert ident.password is not None
        form = {**spec.extra_fields, spec.username_field: ident.username or "",
                spec.password_field: ident.password.reveal()}
        if spec.csrf_field:
            page = session.send("GET", spec.login_path, authenticate=False).response
            assert page is not None
            token = self._hidden_value(page.text, spec.csrf_field)
            if token is None:
                raise EnvironmentProblem(
                    f"login page {spec.login_path} has no hidden field {spec.csrf_field!r}"
                )
            form[spec.csrf_field] = token
        headers = {"Referer": session.url_for(spec.login_path)}
        exchange = session.send("POST", spec.login_path, data=form, headers=headers,
                                authenticate=False)
        cookies = session.http.cookies
        ok = (spec.session_cookie in cookies) if spec.session_cookie else bool(cookies)
        if not ok or (exchange.status or 500) >= 400:
            raise EnvironmentProblem(
                f"identity {ident.name!r} could not log in through the form: {exchange.summary()}"
            )
        for cookie in cookies:
            if cookie.value:
                session.redactor.add_secret(cookie.value)
        self.logged_in = True

    def _hidden_value(self, html: str, field: str) -> str | None:
        for pattern in (self._HIDDEN, self._HIDDEN_REVERSED):
            match = re.search(pattern.format(field=re.escape(field)), html)
            if match:
                return match.group(1)
        return None

    def csrf_headers_for(self, session: ApiSession) -> Any:
        spec = self.spec
        cookie_name = spec.csrf_cookie or ""
        header = spec.csrf_header or ""

        def headers(method: str) -> dict[str, str]:
            if method not in _UNSAFE_METHODS:
                return {}
            value = session.http.cookies.get(cookie_name)
            return {header: value} if value else {}

        return headers

