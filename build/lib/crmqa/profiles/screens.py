"""Screen maps: how one CRM's web UI is found, screen by screen, element by element.

A suite names what a user sees (`lead_form.first_name`); a profile's `screens:` section says
where that is on one product:

```yaml
screens:
  lead_form:
    url: /leads/new
    elements:
      first_name: label="First name"
      status: {locator: label="Status", kind: select}
      save: role=button[name="Save"]
  lead_edit:
    url: /leads/{id}/edit
    extends: lead_form          # same elements, another URL
```

Locators are strings in a small, checked grammar (parsed here so that a bad profile fails at
load time, not halfway through a run; the UI driver turns them into Playwright locators):

| form | finds |
|---|---|
| `role=button[name="Save"]` | an element by ARIA role and accessible name |
| `label=Email` / `label="Email"` | a form control by its label |
| `text=Saved` | an element by its text |
| `placeholder=...`, `alt=...`, `title=...` | by placeholder, alt text, title |
| `testid=lead-row` | by `data-testid` |
| `css=table tr`, `xpath=//tr` | by CSS selector or XPath |
| `nth=0` | the n-th match of what precedes (only after `>>`) |

A text after `=` matches as a case-insensitive substring; in double quotes it matches exactly;
between slashes (`/^Show(ing)?/i`) it is a regular expression. Parts joined by ` >> ` narrow
down: `testid=lead-name >> css=b` is a `<b>` inside the element with test id `lead-name`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
_NAME = re.compile(NAME_PATTERN)
# `screen.element`, or a bare `screen`
ELEMENT_REF = re.compile(r"^([a-z][a-z0-9_]*)(?:\.([a-z][a-z0-9_]*))?$")

LOCATOR_KINDS = ("role", "label", "text", "placeholder", "alt", "title", "testid", "css", "xpath",
                 "nth")
# kinds whose argument is a text matched as substring / "exact" / /regex/
_TEXT_KINDS = ("label", "text", "placeholder", "alt", "title")
_ROLE = re.compile(r"^([a-z]+)(?:\[(\w+)=(.+)\])?$")


class LocatorSyntaxError(ValueError):
    """A locator string does not follow the grammar above."""


@dataclass(frozen=True)
class TextMatch:
    """How a text argument matches: substring (case-insensitive), exact, or regular expression."""

    text: str
    mode: Literal["substring", "exact", "regex"] = "substring"
    flags: str = ""  # regex flags, e.g. "i"

    @classmethod
    def parse(cls, raw: str) -> TextMatch:
        """Read `Email`, `"Email"` or `/^E-?mail$/i`."""
        raw = raw.strip()
        if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
            return cls(raw[1:-1], "exact")
        if raw.startswith('"'):
            raise LocatorSyntaxError(f"{raw} opens a quote it does not close")
        match = re.fullmatch(r"/(.+)/([ims]*)", raw, re.S)
        if match:
            try:
                re.compile(match.group(1))
            except re.error as exc:
                raise LocatorSyntaxError(f"bad regular expression {raw}: {exc}") from None
            return cls(match.group(1), "regex", match.group(2))
        if not raw:
            raise LocatorSyntaxError("empty text")
        return cls(raw, "substring")

    def __str__(self) -> str:
        if self.mode == "exact":
            return f'"{self.text}"'
        if self.mode == "regex":
            return f"/{self.text}/{self.flags}"
        return self.text


@dataclass(frozen=True)
class LocatorPart:
    """One link of a locator chain, e.g. `role=button[name="Save"]`."""

    kind: str
    value: str  # css / xpath / testid / role name / text (raw); nth index as text
    name: TextMatch | None = None  # the accessible name filter of a role locator
    text: TextMatch | None = None  # the text argument of label/text/placeholder/alt/title


@dataclass(frozen=True)
class LocatorSpec:
    """A parsed locator: one or more parts, each narrowing the previous one."""

    source: str
    parts: tuple[LocatorPart, ...]

    @classmethod
    def parse(cls, source: str) -> LocatorSpec:
        """Parse a locator string; raises `LocatorSyntaxError` with a message for people."""
        if not isinstance(source, str) or not source.strip():
            raise LocatorSyntaxError("a locator must be a non-empty string")
        parts = tuple(_parse_part(chunk.strip()) for chunk in source.split(" >> "))
        if parts[0].kind == "nth":
            raise LocatorSyntaxError("nth= narrows a locator, it cannot come first")
        return cls(source.strip(), parts)

    def __str__(self) -> str:
        return self.source


def _parse_part(chunk: str) -> LocatorPart:
    kind, sep, arg = chunk.partition("=")
    kind = kind.strip()
    if not sep or kind not in LOCATOR_KINDS:
        raise LocatorSyntaxError(
            f"'{chunk}' is not a locator; write one of "
            + ", ".join(f"{k}=..." for k in LOCATOR_KINDS)
            + ' (e.g. label="Email", role=button[name="Save"], css=table tr)'
        )
    arg = arg.strip()
    if not arg:
        raise LocatorSyntaxError(f"'{chunk}' has nothing after '='")
    if kind == "role":
        match = _ROLE.fullmatch(arg)
        if not match:
            raise LocatorSyntaxError(
                f"'{chunk}': write role=<role> or role=<role>[name=\"Accessible name\"]"
            )
        role, attr, name = match.groups()
        if attr is not None and attr != "name":
            raise LocatorSyntaxError(f"'{chunk}': only [name=...] filters a role")
        return LocatorPart("role", role, name=TextMatch.parse(name) if name else None)
    if kind in _TEXT_KINDS:
        return LocatorPart(kind, arg, text=TextMatch.parse(arg))
    if kind == "nth" and not re.fullmatch(r"-?\d+", arg):
        raise LocatorSyntaxError(f"'{chunk}': nth= takes an integer (0 is the first, -1 the last)")
    return LocatorPart(kind, arg)


ElementKind = Literal["text", "select", "checkbox", "file", "button", "link", "other"]


class Element(BaseModel):
    """One named element of a screen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    locator: str = Field(description="locator string (see crmqa.profiles.screens)")
    kind: ElementKind | None = Field(
        None, description="what a `values:` entry does with it: fill text, select, check, upload"
    )
    description: str | None = None

    @field_validator("locator")
    @classmethod
    def _valid_locator(cls, value: str) -> str:
        LocatorSpec.parse(value)
        return value

    @property
    def spec(self) -> LocatorSpec:
        return LocatorSpec.parse(self.locator)


class Screen(BaseModel):
    """A screen: its URL (relative to the base URL; `{id}` placeholders) and its elements."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(
        None, description="path like /leads/{id}/edit; None for a screen reached only by clicking"
    )
    extends: str | None = Field(None, description="another screen whose elements this one has")
    ready: str | None = Field(
        None, description="name of an element that is visible once the screen has loaded"
    )
    elements: dict[str, Element] = Field(default_factory=dict)

    @field_validator("elements", mode="before", json_schema_input_type=dict[str, str | Element])
    @classmethod
    def _short_form(cls, value: object) -> object:
        # `first_name: label="First name"` is the short form of `{locator: ...}`
        if isinstance(value, dict):
            return {k: {"locator": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("elements")
    @classmethod
    def _element_names(cls, value: dict[str, Element]) -> dict[str, Element]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"element name '{name}' must match {NAME_PATTERN}")
        return value

    @field_validator("url")
    @classmethod
    def _relative_or_absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("/", "http://", "https://")):
            raise ValueError(f"url '{value}' must start with / (or be a full http(s) URL)")
        return value

    @property
    def url_params(self) -> list[str]:
        """Names of the `{placeholders}` in the URL."""
        return re.findall(r"\{(\w+)\}", self.url or "")


class ScreenMap(RootModel[dict[str, Screen]]):
    """All screens of one CRM, by name. The profile's `screens:` section."""

    root: dict[str, Screen] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> ScreenMap:
        for name, screen in self.root.items():
            if not _NAME.match(name):
                raise ValueError(f"screen name '{name}' must match {NAME_PATTERN}")
            if screen.extends is not None and screen.extends not in self.root:
                raise ValueError(f"screen '{name}' extends unknown screen '{screen.extends}'")
            seen = {name}
            parent = screen.extends
            while parent is not None:
                if parent in seen:
                    raise ValueError(f"screen '{name}': 'extends' goes round in a circle")
                seen.add(parent)
                parent = self.root[parent].extends
            if screen.ready is not None and screen.ready not in self.elements_of(name):
                raise ValueError(f"screen '{name}': ready names unknown element '{screen.ready}'")
        return self

    def __contains__(self, name: object) -> bool:
        return name in self.root

    # Behave like the mapping of screen names it is, for `if profile.screens` and loops.
    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self.root)

    def __len__(self) -> int:
        return len(self.root)

    def __getitem__(self, name: str) -> Screen:
        return self.root[name]

    @property
    def names(self) -> list[str]:
        return list(self.root)

    def screen(self, name: str) -> Screen:
        """The screen called `name`; KeyError with the known names when there is none."""
        try:
            return self.root[name]
        except KeyError:
            raise KeyError(name) from None

    def elements_of(self, name: str) -> dict[str, Element]:
        """The screen's elements, its own over those it extends."""
        screen = self.root[name]
        inherited = self.elements_of(screen.extends) if screen.extends else {}
        return {**inherited, **screen.elements}

    def element(self, screen: str, element: str) -> Element:
        """One element; KeyError when the screen or element is unknown."""
        return self.elements_of(screen)[element]

    def capabilities(self) -> set[str]:
        """`ui` and one `screen:<name>` per screen, as case `needs:` name them."""
        if not self.root:
            return set()
        return {"ui", *(f"screen:{name}" for name in self.root)}

    def match_url(self, path: str) -> tuple[str, dict[str, str]] | None:
        """Which screen a URL path shows, and its placeholder values.

        Screens with a literal URL win over patterns, so `/leads/new` is `lead_form`, not
        `lead_detail` with id `new`.
        """
        path = path.split("?", 1)[0].split("#", 1)[0].rstrip("/") or "/"
        ordered = sorted(
            ((n, s) for n, s in self.root.items() if s.url), key=lambda ns: len(ns[1].url_params)
        )
        for name, screen in ordered:
            assert screen.url is not None
            url_path = re.sub(r"^https?://[^/]+", "", screen.url).split("?", 1)[0].rstrip("/")
            regex = re.escape(url_path or "/")
            regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
            match = re.fullmatch(regex, path)
            if match:
                return name, dict(match.groupdict())
        return None
