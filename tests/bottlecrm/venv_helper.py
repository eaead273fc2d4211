"""Runs inside BottleCRM's own venv (Python 3.12, Django set up by provision.py).

BottleCRM has no password login API: its web app signs people in by magic link or Google.
The product's own `devlogin` management command (DEBUG only) is the supported way to
mint a first JWT without e-mail, so this helper calls it once per user and prints the
access tokens as one JSON object on stdout. Everything after that (creating the org,
inviting the USER, switching org, personal access tokens) goes through the HTTP API.

It also gives the admin a password and Django staff rights so that the Django admin at
/admin/ (the only browser UI the PyPI package ships) can be driven by the UI driver.

Usage: python venv_helper.py ADMIN_EMAIL USER_EMAIL  (admin password from env
BOTTLECRM_HELPER_ADMIN_PASSWORD).
"""

from __future__ import annotations

import io
import json
import os
import sys


def _mint(email: str) -> str:
    """Create the user if needed and return a JWT access token with no org claim."""
    from django.core.management import call_command  # type: ignore[import-not-found]

    out = io.StringIO()
    call_command("devlogin", email, create=True, stdout=out)
    for line in out.getvalue().splitlines():
        if line.startswith("access_token:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit(f"devlogin printed no access token for {email}")


def main(argv: list[str]) -> int:
    """Mint tokens for the admin and the USER; print {"admin": jwt, "user": jwt}."""
    if len(argv) != 2:
        print("usage: venv_helper.py ADMIN_EMAIL USER_EMAIL", file=sys.stderr)
        return 2
    import django  # type: ignore[import-not-found]  # only in BottleCRM's venv

    django.setup()
    from django.contrib.auth import get_user_model  # type: ignore[import-not-found]

    admin_email, user_email = argv
    tokens = {"admin": _mint(admin_email), "user": _mint(user_email)}
    password = os.environ.get("BOTTLECRM_HELPER_ADMIN_PASSWORD")
    if password:
        admin = get_user_model().objects.get(email=admin_email)
        admin.set_password(password)
        admin.is_staff = True
        admin.is_superuser = True
        admin.save()
    print(json.dumps(tokens))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
