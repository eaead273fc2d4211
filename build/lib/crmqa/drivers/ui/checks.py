"""What the UI driver can tell is wrong with a step before a browser starts.

A step names screens and elements in the canonical vocabulary (crmqa.plan.canonical) or in the
target profile's own screen map. A canonical name the profile lacks is fine here: the case is
not applicable on that product at run time. A name that is neither canonical nor in the profile
is a mistake in the plan (`lead_lsit`), reported with a suggestion. Locators are parsed, and
files to upload must exist.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from crmqa.drivers.base import StepCheckContext, StepProblem
from crmqa.drivers.ui.ux_options import OPTIONS_OF, option_problems
from crmqa.plan.canonical import canonical_elements, canonical_screens, is_canonical_screen
from crmqa.plan.files import find_data_file, missing_file_message, search_folders
from crmqa.plan.models import UiStep
from crmqa.plan.templating import has_template
from crmqa.profiles.screens import ELEMENT_REF, LocatorSpec, LocatorSyntaxError, ScreenMap

_URL_PREFIXES = ("/", "http://", "https://")


def check_ui_step(step: Any, context: StepCheckContext) -> list[StepProblem]:
    """Unknown screens and elements, bad locators and missing upload files in a `ui:` step."""
    if not isinstance(step, UiStep):
        return []
    screens: ScreenMap = context.profile.screens
    profile = context.profile.name
    problems = [problem for where, ref in _references(step)
                for problem in _reference_problems(ref, where, screens, profile)]
    problems += [StepProblem(message, ("values", key), _suggest(key, sorted(OPTIONS_OF[step.ui])))
                 for key, message in option_problems(step.ui, step.values)]
    if step.ui == "upload":
        values = step.value if isinstance(step.value, list) else [step.value]
        for index, value in enumerate(values):
            if isinstance(value, str) and not has_template(value):
                folders = search_folders(context.base_dir)
                if find_data_file(value, folders) is None:
                    where = ("value", index) if isinstance(step.value, list) else ("value",)
                    problems.append(StepProblem(missing_file_message(value, folders), where))
    return problems


def _references(step: UiStep) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(where in the step, what it names) for every screen, element or locator it names."""
    target = (step.target or "").strip()
    names_something = target and not has_template(target) and not target.startswith(
        _URL_PREFIXES)
    # expect_url may name a part of a URL rather than a screen
    if names_something and (step.ui != "expect_url" or ELEMENT_REF.fullmatch(target)):
        yield ("target",), target
    if step.ui == "fill":
        bare_screen = target if ELEMENT_REF.fullmatch(target) and "." not in target else None
        for key in step.values:
            if has_template(str(key)):
                continue
            if bare_screen and "." not in key and "=" not in key:
                yield ("values", key), f"{bare_screen}.{key}"
            else:
                yield ("values", key), key


def _reference_problems(ref: str, where: tuple[str | int, ...], screens: ScreenMap,
                        profile: str) -> list[StepProblem]:
    head, chained, rest = ref.partition(" >> ")
    if chained and "=" not in head:
        # a named element narrowed by a raw locator (`lead_list.rows >> nth=0`)
        return (_reference_problems(head, where, screens, profile)
                + _locator_problems(f"css=* >> {rest}", where, shown=rest))
    if "=" in ref:
        return _locator_problems(ref, where)
    match = ELEMENT_REF.fullmatch(ref)
    if match is None:
        return [StepProblem(
            f"'{ref}' is neither screen.element (lead_form.first_name) nor a locator "
            '(label="Email", role=button[name="Save"], css=..., testid=..., text=...)', where)]
    screen, element = match.groups()
    if screen not in screens:
        if is_canonical_screen(screen):
            return []  # a screen this product lacks: the case is not applicable here
        known = sorted(set(screens.names) | set(canonical_screens()))
        return [StepProblem(
            f"unknown screen '{screen}': profile '{profile}' has no such screen and it is not "
            "a canonical screen name (<entity>_list, _form, _edit, _detail, _delete, _import, "
            "_export, _convert; login; home)", where, _suggest(screen, known))]
    if element is None:
        return []
    own = screens.elements_of(screen)
    canonical = canonical_elements(screen)
    if element in own or element in canonical:
        return []  # a canonical element this product's screen lacks: not applicable here
    known = sorted(set(own) | canonical)
    return [StepProblem(
        f"screen '{screen}' of profile '{profile}' has no element '{element}'"
        + ("" if not canonical else f", and it is not a canonical element of {screen}"),
        where, _suggest(element, known))]


def _locator_problems(text: str, where: tuple[str | int, ...],
                      shown: str | None = None) -> list[StepProblem]:
    if has_template(text):
        return []
    try:
        LocatorSpec.parse(text)
    except LocatorSyntaxError as exc:
        return [StepProblem(f"bad locator '{shown or text}': {exc}", where)]
    return []


def _suggest(word: str, known: list[str]) -> str | None:
    close = difflib.get_close_matches(word, known, n=1)
    return f"did you mean '{close[0]}'?" if close else None
