"""Turn a parsed locator (crmqa.profiles.screens.LocatorSpec) into a Playwright locator."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page

from crmqa.profiles.screens import LocatorPart, LocatorSpec, TextMatch


def _text_arg(match: TextMatch) -> tuple[str | re.Pattern[str], bool]:
    """Playwright's (text, exact) pair for a text match."""
    if match.mode == "regex":
        flags = 0
        for letter in match.flags:
            flags |= {"i": re.I, "m": re.M, "s": re.S}[letter]
        return re.compile(match.text, flags), False
    return match.text, match.mode == "exact"


def _apply(scope: Page | Locator, part: LocatorPart) -> Locator:
    kind = part.kind
    if kind == "nth":
        assert not isinstance(scope, Page)  # the parser refuses nth= first
        return scope.nth(int(part.value))
    if kind == "css":
        return scope.locator(part.value)
    if kind == "xpath":
        return scope.locator(f"xpath={part.value}")
    if kind == "testid":
        return scope.get_by_test_id(part.value)
    if kind == "role":
        kwargs: dict[str, Any] = {}
        if part.name is not None:
            kwargs["name"], kwargs["exact"] = _text_arg(part.name)
        return scope.get_by_role(part.value, **kwargs)  # type: ignore[arg-type]
    assert part.text is not None
    text, exact = _text_arg(part.text)
    getter = {
        "label": scope.get_by_label,
        "text": scope.get_by_text,
        "placeholder": scope.get_by_placeholder,
        "alt": scope.get_by_alt_text,
        "title": scope.get_by_title,
    }[kind]
    return getter(text, exact=exact)


def build_locator(page: Page, spec: LocatorSpec) -> Locator:
    """The Playwright locator for `spec` on `page` (lazy: nothing is looked up yet)."""
    scope: Page | Locator = page
    for part in spec.parts:
        scope = _apply(scope, part)
    assert not isinstance(scope, Page)
    return scope
