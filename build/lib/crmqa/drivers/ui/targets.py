"""What the UI driver needs from a target, and how step targets name screens and elements.

`ui_target(resolved)` reads the engine's resolved target (base URL, profile screens,
credentials) into the small `UiTarget` the driver uses; tests can build a `UiTarget` directly.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crmqa.drivers.registry import StepDefect
from crmqa.profiles.screens import ELEMENT_REF, LocatorSpec, LocatorSyntaxError, ScreenMap


class UiStepError(StepDefect):
    """A UI step cannot mean anything on this target (unknown screen or element, bad locator).

    The plan or the profile is wrong, not the CRM: the engine reports the case as broken.
    """


@dataclass
class UiTarget:
    """The parts of a target the UI driver uses."""

    base_url: str
    screens: ScreenMap
    credentials: Callable[[str], tuple[str, str]]  # identity -> (username, password)
    name: str = "target"
    default_identity: str = "default"


def ui_target(target: Any) -> UiTarget:
    """Adapt the engine's resolved target (or a `UiTarget`) for the UI driver."""
    if isinstance(target, UiTarget):
        return target
    profile = getattr(target, "profile", None)
    screens = getattr(profile, "screens", None)
    if screens is None:
        screens = ScreenMap({})
    elif not isinstance(screens, ScreenMap):
        screens = ScreenMap.model_validate(screens)
    return UiTarget(
        base_url=str(target.base_url),
        screens=screens,
        credentials=lambda identity: _credentials_of(target, identity),
        name=str(getattr(target, "name", "target")),
        default_identity=str(getattr(target, "default_identity", "default")),
    )


def _credentials_of(target: Any, identity: str) -> tuple[str, str]:
    """Username and password of an identity of a `crmqa.profiles.target.ResolvedTarget`."""
    found = target.identity(identity)
    found.require("username", "password")  # a clear EnvironmentProblem naming unset variables
    password = found.password
    return str(found.username), password.reveal() if hasattr(password, "reveal") else str(password)


@dataclass(frozen=True)
class Resolved:
    """What a step's `target` names: a screen, an element of a screen, or a raw locator."""

    ref: str  # as written in the step
    screen: str | None = None
    element: str | None = None
    spec: LocatorSpec | None = None
    kind: str | None = None  # the element's declared kind, when the profile gives one

    def describe(self) -> str:
        """`element email of screen lead_form (locator label="Email")`, for failure messages."""
        if self.element is not None:
            return f'element "{self.element}" of screen "{self.screen}" (locator {self.spec})'
        if self.spec is not None:
            return f"locator {self.spec}"
        return f'screen "{self.screen}"'


def resolve(ref: str, screens: ScreenMap, *, profile_name: str = "the profile") -> Resolved:
    """Resolve a step target; raises `UiStepError` with a suggestion when it names nothing."""
    ref = ref.strip()
    head, chained, rest = ref.partition(" >> ")
    if chained and "=" not in head:
        # `lead_detail.first_name >> css=b`: a named element, narrowed by a raw locator.
        base = resolve(head, screens, profile_name=profile_name)
        if base.spec is None:
            raise UiStepError(f"{ref!r}: only an element (screen.element) can be narrowed")
        try:
            spec = LocatorSpec.parse(f"{base.spec.source} >> {rest}")
        except LocatorSyntaxError as exc:
            raise UiStepError(f"bad locator {ref!r}: {exc}") from None
        return Resolved(ref, screen=base.screen, element=base.element, spec=spec)
    if "=" in ref:
        try:
            return Resolved(ref, spec=LocatorSpec.parse(ref))
        except LocatorSyntaxError as exc:
            raise UiStepError(f"bad locator {ref!r}: {exc}") from None
    match = ELEMENT_REF.fullmatch(ref)
    if not match:
        raise UiStepError(
            f"{ref!r} is neither screen.element (lead_form.first_name) nor a locator "
            '(label="Email", role=button[name="Save"], css=..., testid=..., text=...)'
        )
    screen, element = match.groups()
    if screen not in screens:
        raise UiStepError(
            f"{profile_name} maps no screen {screen!r}{_did_you_mean(screen, screens.names)}"
        )
    if element is None:
        return Resolved(ref, screen=screen)
    elements = screens.elements_of(screen)
    if element not in elements:
        raise UiStepError(
            f"screen {screen!r} of {profile_name} has no element {element!r}"
            + _did_you_mean(element, list(elements))
        )
    found = elements[element]
    return Resolved(ref, screen=screen, element=element, spec=found.spec, kind=found.kind)


def _did_you_mean(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known: {', '.join(sorted(known)) or 'none'})"
