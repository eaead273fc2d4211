"""Which records a case creates through a CRM's forms, read from the screen map alone.

A case that fills and submits a create form leaves a record in the CRM, whether or not it
goes on to save the record's id. The driver watches every page for that, by the profile's
conventions rather than by any one product's HTML:

- screens are named `<entity>_<kind>`; a *create form* is an `<entity>_form` (or `_new`,
  `_create`, `_add`) screen whose URL has no `{placeholder}`: a form at `/leads/{id}/edit`
  changes a record, it does not make one;
- a click (not on a plain link) or a key press while the page shows the filled create form
  submits it;
- when the page then shows a screen of the same entity whose URL carries a placeholder
  (`lead_detail` at `/leads/{id}`), that is the new record and its id;
- when it shows anything else, the record was made but its id was not shown (a form that
  returns to a list): the values entered are kept, for the engine to find the record by;
- while it still shows the form, the CRM refused it (the case may correct and submit again);
  a case that opens another page from there made nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from crmqa.plan.models import ENTITIES, UiStep
from crmqa.profiles.screens import ELEMENT_REF, ScreenMap

CREATE_KINDS = ("form", "new", "create", "add")
# Actions that enter values into a form; a click or key press submits it.
_ENTERS = ("fill", "select", "check", "uncheck")
_SUBMITS = ("click", "press")
# Values never kept (they would end up in results and reports).
_SECRET_NAME = re.compile(r"pass(word)?|secret|token|pin\b", re.I)


def entity_and_kind(screen: str) -> tuple[str, str] | None:
    """`lead_form` -> ("lead", "form"); None for a name without `_` (`login`)."""
    entity, sep, kind = screen.rpartition("_")
    return (entity, kind) if sep and entity else None


def record_screens(screens: ScreenMap, entity: str) -> list[str]:
    """Screens of `entity` whose URL names one record (`lead_detail` at /leads/{id})."""
    return [name for name in screens.names
            if (entity_and_kind(name) or ("", ""))[0] == entity and screens[name].url_params]


def create_form_entity(screens: ScreenMap, screen: str | None) -> str | None:
    """The entity a create form makes, or None when `screen` is not one.

    The entity must be canonical (`lead`) or have screens for single records in this map, so
    that a settings form (`mail_form` without any `mail_*` record screen) is not taken for one.
    """
    if screen is None or screen not in screens:
        return None
    parts = entity_and_kind(screen)
    if parts is None or parts[1] not in CREATE_KINDS or screens[screen].url_params:
        return None
    entity = parts[0]
    if entity in ENTITIES or record_screens(screens, entity):
        return entity
    return None


@dataclass
class Creation:
    """A record a submitted create form made: its id, or (when none was shown) the values."""

    entity: str
    record_id: str | None
    values: dict[str, str]


def forged_creations(forged: list[dict[str, Any]], screens: ScreenMap,
                     screen: str | None) -> list[Creation]:
    """Records that forged submissions of a create form made (`ui: expect_csrf_protected`
    on a CRM that accepted them): known by the values sent, for the engine to find them by."""
    entity = create_form_entity(screens, screen)
    if entity is None:
        return []
    return [Creation(entity, None, {name: str(value) for name, value in
                                    dict(sent.get("fields") or {}).items()
                                    if not _SECRET_NAME.search(name)})
            for sent in forged if not 400 <= int(sent.get("status") or 0) < 500
            and sent.get("method") == "POST"]


@dataclass
class _Form:
    entity: str
    screen: str
    path: str  # where the form was filled; the form is "still shown" while the page is there
    values: dict[str, str] = field(default_factory=dict)
    submitted: bool = False


class CreateWatch:
    """Watches the steps on one page (one identity's browser tab) for create forms submitted.

    Call `before(step, url, clicks_link)` before each action and `after(step, url, ok)` after
    it; each returns the records made, to be tracked for clean-up.
    """

    def __init__(self, screens: ScreenMap) -> None:
        self.screens = screens
        self.form: _Form | None = None

    def before(self, step: UiStep, url: str, clicks_link: Callable[[], bool]) -> list[Creation]:
        """Settle a submit whose page has moved on; note a submit about to happen."""
        made = self._settle(url)
        form = self.form
        if form is None:
            return made
        if step.ui == "open":
            self.form = None  # the case leaves a form it did not (successfully) submit
        elif step.ui in _SUBMITS and self._shows_form(url) and (
                step.ui == "press" or not step.target or not clicks_link()):
            # (A plain link on the form, Cancel or a sidebar, goes somewhere; it sends nothing.)
            form.submitted = True
        return made

    def after(self, step: UiStep, url: str, ok: bool) -> list[Creation]:
        """Keep the values a step entered into a create form; settle a submit that went on."""
        if step.ui in _ENTERS and ok:
            self._enter(step, url)
        return self._settle(url)

    # ------------------------------------------------------------------ internals

    def _screen_of(self, url: str) -> tuple[str | None, dict[str, str]]:
        if not url.startswith(("http://", "https://")):
            return None, {}
        matched = self.screens.match_url(urlsplit(url).path)
        return (matched[0], matched[1]) if matched else (None, {})

    def _shows_form(self, url: str) -> bool:
        assert self.form is not None
        screen, _ = self._screen_of(url)
        return screen == self.form.screen or _path(url) == self.form.path

    def _enter(self, step: UiStep, url: str) -> None:
        page_screen, _ = self._screen_of(url)
        screen: str | None = page_screen
        if page_screen is None:
            # A page no screen URL matches (a dialog, a single-page app): the step's own
            # screen tells what is being filled.
            screen = _step_screen(step)
        entity = create_form_entity(self.screens, screen)
        if entity is None or screen is None:
            return
        if self.form is None or self.form.screen != screen:
            self.form = _Form(entity=entity, screen=screen, path=_path(url))
        self.form.submitted = False  # a correction after a refusal: the next submit counts
        elements = self.screens.elements_of(screen)
        self.form.values.update({name: value for name, value in _entered(step).items()
                                 if name not in elements or elements[name].kind != "file"})

    def _settle(self, url: str) -> list[Creation]:
        form = self.form
        if form is None or not form.submitted or self._shows_form(url):
            return []
        self.form = None
        screen, params = self._screen_of(url)
        parts = entity_and_kind(screen) if screen else None
        if parts is not None and parts[0] == form.entity and params:
            record_id = params.get("id") or next(iter(params.values()))
            return [Creation(form.entity, record_id, dict(form.values))]
        return [Creation(form.entity, None, dict(form.values))]


def _path(url: str) -> str:
    return urlsplit(url).path.rstrip("/") or "/"


def _step_screen(step: UiStep) -> str | None:
    target = (step.target or "").split(" >> ", 1)[0].strip()
    match = ELEMENT_REF.fullmatch(target) if "=" not in target else None
    return match.group(1) if match else None


def _entered(step: UiStep) -> dict[str, str]:
    """Element name -> text entered by a step (texts and choices; no ticks, files, secrets)."""
    pairs: list[tuple[str, Any]] = []
    if step.ui == "fill" and step.values:
        pairs = [(key, value) for key, value in step.values.items()]
    elif step.ui in ("fill", "select") and step.target:
        pairs = [(step.target, step.value)]
    entered: dict[str, str] = {}
    for ref, value in pairs:
        name = ref.split(".", 1)[1] if ELEMENT_REF.fullmatch(ref) and "." in ref else ref
        if isinstance(value, bool) or value is None or _SECRET_NAME.search(name):
            continue
        if isinstance(value, str | int | float):
            text = str(value).strip()
            if text:
                entered[name] = text
    return entered
