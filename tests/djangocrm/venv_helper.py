"""Runs inside Django CRM's own venv (Python 3.12, settings from provision.py).

`setupdata` (the product's own first-run command) makes IamSUPER, IamGlobalSALES and
IamLocalSALES with random passwords it only prints. This helper gives each the password
provision.py chose, and adds an operator (group `operators`, the role that takes requests
but manages no leads), so that every crmqa identity can log in through the login page.

Usage: python venv_helper.py  (passwords as JSON in env DJANGOCRM_HELPER_PASSWORDS:
{"IamSUPER": "...", "IamGlobalSALES": "...", "IamLocalSALES": "...", "IamOPERATOR": "..."}).
"""

from __future__ import annotations

import json
import os
import sys

OPERATOR = "IamOPERATOR"


def main() -> int:
    """Set every named user's password, creating the operator when it is not there yet."""
    import django  # type: ignore[import-not-found]  # only in Django CRM's venv

    django.setup()
    from django.contrib.auth.models import Group, User  # type: ignore[import-not-found]

    passwords: dict[str, str] = json.loads(os.environ["DJANGOCRM_HELPER_PASSWORDS"])
    for username, password in passwords.items():
        user = User.objects.filter(username=username).first()
        if user is None:
            if username != OPERATOR:
                print(f"no user {username} (did setupdata run?)", file=sys.stderr)
                return 1
            user = User.objects.create_user(username, "operator@example.com", is_staff=True)
            user.groups.add(*Group.objects.filter(name__in=["operators", "co-workers"]))
        user.set_password(password)
        user.save()
    print(json.dumps(sorted(passwords)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
