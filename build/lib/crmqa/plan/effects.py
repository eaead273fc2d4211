"""What a case does to the CRM, read from the plan alone: does it change records, load it?

A target that does not allow changes (`destructive_ok: false`, the default) runs only cases
whose steps leave its records alone; the others are not applicable there and say which flag
would allow them. Likewise performance cases need `load_ok: true`. Reading is by the canonical
model: changing operations, HTTP methods that write, and UI actions on screens (or controls)
that create, change or delete records.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from crmqa.plan.canonical import CHANGING_OPERATIONS, changes_records
from crmqa.plan.case_sections import section_effects
from crmqa.plan.models import Case, Category, OpStep, RequestStep, UiStep, WaitStep
from crmqa.plan.templating import has_template

# The capabilities a target grants through its flags (see Target.destructive_ok / load_ok).
CHANGES = "changes"
LOAD = "load"

_READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ACTING_UI = frozenset({"fill", "select", "check", "uncheck", "click", "press", "upload"})
# The acting ones that may submit a form (filling a field only types).
_SUBMITTING_UI = _ACTING_UI - {"fill"}
# Controls that write wherever they sit (a delete button on a list or detail screen).
_WRITING_CONTROLS = frozenset({"save", "delete", "bulk_delete", "confirm", "convert"})
_SCREEN_REF = re.compile(r"^([a-z][a-z0-9_]*)(?:\.([a-z][a-z0-9_]*))?$")


def step_changes_records(step: Any) -> bool:
    """True when the step may create, change or delete records in the CRM."""
    if isinstance(step, WaitStep):
        return step_changes_records(step.wait_until.step)
    if isinstance(step, OpStep):
        return step.op.split(".", 1)[1] in CHANGING_OPERATIONS
    if isinstance(step, RequestStep):
        return step.request.method not in _READING_METHODS
    if isinstance(step, UiStep):
        return step.ui in _ACTING_UI and any(_writes(ref) for ref in _ui_references(step))
    # A registered kind of step says for itself (`changes_records()`); without it, it reads.
    says = getattr(step, "changes_records", None)
    return bool(says()) if callable(says) else False


def step_repeatable(step: Any) -> bool:
    """True when doing the step again surely changes no records: only such a step is done
    again to measure a time again (crmqa.core.timing).

    Stricter than `not step_changes_records(step)` for the UI: a click, key press, choice,
    tick or upload on a raw locator (`css=button`), or with no target, may submit any form,
    so only one on controls the profile names, on screens that do not write, is repeated.
    """
    if step_changes_records(step):
        return False
    if isinstance(step, UiStep) and step.ui in _SUBMITTING_UI:
        references = list(_ui_references(step))
        return bool(references) and all(
            _SCREEN_REF.fullmatch(ref) and not has_template(ref) for ref in references)
    return True


def _ui_references(step: UiStep) -> Iterator[str]:
    target = (step.target or "").split(" >> ", 1)[0].strip()
    if target:
        yield target
    if step.ui == "fill":
        for key in step.values:
            yield key if "." in key else f"{target}.{key}"


def _writes(ref: str) -> bool:
    if has_template(ref):
        return False
    match = _SCREEN_REF.fullmatch(ref)
    if match is None:
        return False
    screen, element = match.groups()
    return changes_records(screen) or (element in _WRITING_CONTROLS and screen != "login")


def case_effects(case: Case) -> list[str]:
    """The target flags a case needs: `changes` (destructive_ok), `load` (load_ok).

    Its steps and its sections both count: a `load:` that creates leads needs both flags.
    """
    effects = []
    if any(step_changes_records(step) for step in (*case.setup, *case.steps, *case.teardown)):
        effects.append(CHANGES)
    if case.category is Category.PERFORMANCE:
        effects.append(LOAD)
    # A case section (`load:`) says what it needs itself (crmqa.plan.case_sections).
    effects.extend(effect for effect in dict.fromkeys(section_effects(case))
                   if effect not in effects)
    return effects
