"""Password hashing, bearer tokens and CSRF tokens for the sandbox (stdlib only)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

# scrypt cost: about 30 ms a hash on a small machine; enough to make offline guessing expensive
# for a sandbox without slowing logins in tests.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """A salted scrypt hash, self-describing: scrypt$n$r$p$salt$digest (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=32)
    encode = base64.b64encode
    return (f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$"
            f"{encode(salt).decode()}${encode(digest).decode()}")


def verify_password(password: str, stored: str) -> bool:
    """Does `password` match the stored hash? Constant-time comparison."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                                r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@dataclass
class TokenInfo:
    username: str
    expires_at: float


class TokenStore:
    """Opaque bearer tokens kept in memory: a dictionary lookup per request keeps the API fast."""

    def __init__(self, ttl_seconds: int) -> None:
        self.ttl_seconds = ttl_seconds
        self._tokens: dict[str, TokenInfo] = {}

    def issue(self, username: str) -> str:
        token = secrets.token_urlsafe(32)
        self._tokens[token] = TokenInfo(username, time.time() + self.ttl_seconds)
        return token

    def username_for(self, token: str) -> str | None:
        info = self._tokens.get(token)
        if info is None:
            return None
        if info.expires_at < time.time():
            self._tokens.pop(token, None)
            return None
        return info.username

    def revoke_user(self, username: str) -> None:
        for token in [t for t, info in self._tokens.items() if info.username == username]:
            del self._tokens[token]


def new_csrf_token() -> str:
    """A fresh per-session CSRF token."""
    return secrets.token_urlsafe(24)


def same_token(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of a submitted CSRF token with the session's."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
