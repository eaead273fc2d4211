"""Hide secrets in evidence: headers, JSON bodies, form bodies, query strings and free text.

Two nets, because either alone leaks: sensitive *names* (Authorization, Cookie, password,
access_token, api keys...) have their values replaced wherever they appear, and known secret
*values* (the identities' passwords and keys, tokens obtained at login) are replaced anywhere
in the text, so a token echoed in an unexpected field is hidden too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"

# Exact names (lower case) that always hold secrets.
_SENSITIVE_NAMES = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key",
    "apikey", "api_key", "x-auth-token", "x-csrftoken", "x-csrf-token", "csrfmiddlewaretoken",
    "sessionid", "session", "client_secret", "code",
})
# Parts of names that mark a secret (password_confirm, refresh_token, clientSecret...).
_SENSITIVE_PARTS = ("password", "passwd", "secret", "token", "apikey", "api_key", "api-key")

# Secrets shorter than this are not replaced as free text: "a" would shred the whole dump.
_MIN_LITERAL = 4


def is_sensitive_name(name: str) -> bool:
    """True when a header, JSON key, form field or query parameter name holds a secret."""
    lowered = name.lower()
    return lowered in _SENSITIVE_NAMES or any(part in lowered for part in _SENSITIVE_PARTS)


class Redactor:
    """Redacts one target's evidence. Learns new secret values (login tokens) as they appear."""

    def __init__(self, secrets: Iterable[str] = (), extra_names: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._extra = frozenset(name.lower() for name in extra_names)
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, value: str | None) -> None:
        """Remember a secret value to hide wherever it appears."""
        if value and len(value) >= _MIN_LITERAL and value not in self._secrets:
            self._secrets.add(value)
            # Longest first, so a token that contains a password is hidden whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def sensitive(self, name: str) -> bool:
        return name.lower() in self._extra or is_sensitive_name(name)

    def text(self, text: str) -> str:
        """Replace every known secret value in free text."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {
            name: REDACTED if self.sensitive(name) else self.text(str(value))
            for name, value in headers.items()
        }

    def value(self, value: Any) -> Any:
        """Redact a decoded JSON value: sensitive keys at any depth, secret literals anywhere."""
        if isinstance(value, dict):
            return {
                key: (REDACTED if isinstance(key, str) and self.sensitive(key) and item
                      not in (None, "") else self.value(item))
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def query(self, query: str) -> str:
        """Redact a query string (or form body): `password=x&q=y` -> `password=[redacted]&q=y`."""
        if not query:
            return query
        pairs = parse_qsl(query, keep_blank_values=True)
        if not any(self.sensitive(k) for k, _ in pairs) and self._pattern is None:
            return query
        cleaned = [(k, REDACTED if self.sensitive(k) else v) for k, v in pairs]
        return self.text(urlencode(cleaned, safe="[]"))

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        if not parts.query:
            return self.text(url)
        return self.text(urlunsplit(parts._replace(query=self.query(parts.query))))

    def body(self, body: bytes | str | None, content_type: str | None) -> str:
        """Redact a request or response body for evidence, by its content type."""
        if body is None or body == b"" or body == "":
            return ""
        if isinstance(body, bytes):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                return f"<{len(body)} bytes of binary data>"
        else:
            text = body
        kind = (content_type or "").lower()
        if "json" in kind or text[:1] in "{[":
            try:
                decoded = json.loads(text)
            except ValueError:
                return self.text(text)
            return json.dumps(self.value(decoded), ensure_ascii=False, indent=2)
        if "x-www-form-urlencoded" in kind:
            return self.query(text)
        return self.text(text)
