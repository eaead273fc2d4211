"""What each UI action does, on one page, within one step's time bound.

Every action either returns `(data, checks)` or raises `ActionFailed` with a message that names
the screen, the element and the locator that did not match. Nothing waits longer than the
step's timeout: Playwright is given that bound on every call.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from crmqa.core.errors import EnvironmentProblem
from crmqa.core.results import Attachment, CheckResult
from crmqa.drivers.ui.browser import join_url
from crmqa.drivers.ui.locators import build_locator
from crmqa.drivers.ui.sheets import fill_placeholders, read_table
from crmqa.drivers.ui.targets import Resolved, UiStepError, resolve
from crmqa.plan.files import find_data_file, missing_file_message, search_folders
from crmqa.plan.models import UiStep
from crmqa.profiles.screens import ScreenMap, TextMatch

IMPACTS = ("minor", "moderate", "serious", "critical")
PAGE_TEXT_LIMIT = 50_000
_NETWORK_ERROR = re.compile(r"net::ERR_[A-Z_]+")


class ActionFailed(Exception):
    """The CRM's page did not do what the step needs (a product failure, not a plan error)."""

    def __init__(self, message: str, *, expected: Any = None, actual: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual


@dataclass
class ActionContext:
    """Everything one action needs."""

    page: Page
    step: UiStep
    screens: ScreenMap
    base_url: str
    timeout_s: float
    profile_name: str
    save_file: Callable[[str], Path]  # evidence file name -> path to write
    base_dir: Path | None = None  # the plan's folder, for relative file paths
    data: dict[str, Any] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)  # evidence kept, pass or fail
    ux: Any = None  # the case's UX state (crmqa.drivers.ui.ux.UxState), for UX actions

    @property
    def timeout_ms(self) -> float:
        return self.timeout_s * 1000

    def resolve(self, ref: str | None, *, need: str = "an element") -> Resolved:
        if not ref:
            raise UiStepError(f"ui: {self.step.ui} needs a target ({need})")
        return resolve(ref, self.screens, profile_name=self.profile_name)

    def element(self, ref: str | None) -> tuple[Resolved, Locator]:
        """The resolved element and its locator; a bare screen is not an element."""
        resolved = self.resolve(ref)
        if resolved.spec is None:
            raise UiStepError(
                f"ui: {self.step.ui} needs an element (screen.element or a locator), "
                f"not the screen {resolved.ref!r}"
            )
        return resolved, build_locator(self.page, resolved.spec)

    def check(self, name: str, ok: bool, expected: Any, actual: Any, message: str) -> None:
        self.checks.append(
            CheckResult(name=name, ok=ok, expected=expected, actual=actual,
                        message="" if ok else message)
        )


# --------------------------------------------------------------------------- helpers


def _seconds(ctx: ActionContext) -> str:
    return f"{ctx.timeout_s:g} s"


def _count(locator: Locator) -> int | None:
    try:
        return locator.count()
    except PlaywrightError:
        return None


def _not_done(ctx: ActionContext, resolved: Resolved, locator: Locator, exc: PlaywrightError,
              doing: str) -> ActionFailed:
    """Explain why an action on an element did not happen within the time bound."""
    matched = _count(locator)
    what = resolved.describe()
    if matched == 0:
        reason = f"no element matched {what} within {_seconds(ctx)}"
    elif matched is not None and matched > 1 and "strict mode" in str(exc):
        reason = f"{matched} elements matched {what}; the locator must find exactly one"
    else:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = f"{what} was found but could not be {doing} within {_seconds(ctx)}: {first}"
    if matched is None:
        seen = "the page could not be read"
    elif matched == 0:
        seen = NO_ELEMENT
    elif matched == 1:
        seen = f"1 element matched, not {doing}"
    else:
        seen = f"{matched} elements matched"
    return ActionFailed(f"{ctx.step.ui} {resolved.ref}: {reason}",
                        expected=f"one element matching {resolved.spec}, {doing}", actual=seen)


def act_on(ctx: ActionContext, resolved: Resolved, locator: Locator, doing: str,
         action: Callable[[], Any]) -> Any:
    try:
        return action()
    except PlaywrightError as exc:  # TimeoutError is a subclass
        raise _not_done(ctx, resolved, locator, exc, doing) from None


def _texts(locator: Locator) -> list[str]:
    try:
        return [text.strip() for text in locator.all_inner_texts()]
    except PlaywrightError:
        return []


def text_pattern(value: Any) -> str | re.Pattern[str]:
    """A value to compare text with: `/regex/flags` becomes a pattern, anything else a string."""
    text = "" if value is None else str(value)
    match = TextMatch.parse(text) if text.strip() else None
    if match is not None and match.mode == "regex":
        flags = 0
        for letter in match.flags:
            flags |= {"i": re.I, "m": re.M, "s": re.S}[letter]
        return re.compile(match.text, flags)
    return text


_FLAG_LETTERS = ((re.I, "i"), (re.M, "m"), (re.S, "s"))


def show_text(value: Any) -> str:
    """`"text"` or `/regex/i`, as a step wrote it."""
    if isinstance(value, re.Pattern):
        flags = "".join(letter for flag, letter in _FLAG_LETTERS if value.flags & flag)
        return f"/{value.pattern}/{flags}"
    return f'"{value}"'


def _text_wanted(wanted: str | re.Pattern[str]) -> str:
    """What a text expectation asks, as `CheckResult.expected`."""
    return f"matches {show_text(wanted)}" if isinstance(wanted, re.Pattern) else (
        f"contains {show_text(wanted)}")


def _first_text(locator: Locator) -> str | None:
    """The text of the first match, as a user sees it; None when nothing matches."""
    texts = _texts(locator)
    return texts[0] if texts else None


# What a state expectation saw when no element matched.
NO_ELEMENT = "no element matched"


# Playwright's "visible" (a non-empty box, not visibility:hidden), read in one round trip.
_STATE_JS = """els => {
  if (!els.length) return null;
  const box = els[0].getBoundingClientRect();
  return box.width > 0 && box.height > 0 && getComputedStyle(els[0]).visibility !== 'hidden'
    ? 'visible' : 'hidden';
}"""


def _state(locator: Locator) -> str:
    """`visible`, `hidden` or `no element matched`, for the first match."""
    try:
        state = locator.evaluate_all(_STATE_JS)
    except PlaywrightError:
        return NO_ELEMENT
    return str(state) if state else NO_ELEMENT


def _on_screen(screens: ScreenMap, name: str) -> Callable[[str], bool]:
    """A URL predicate: does the URL show screen `name` (by the screen map's URL matching)?"""
    if screens.screen(name).url is None:
        raise UiStepError(f"screen {name!r} has no url in the profile")

    def shows(url: str) -> bool:
        matched = screens.match_url(urlsplit(url).path)
        return matched is not None and matched[0] == name

    return shows


def url_info(page: Page, screens: ScreenMap) -> dict[str, Any]:
    """The page's URL and, when a screen's URL matches it, that screen and its placeholders."""
    url = page.url
    matched = screens.match_url(urlsplit(url).path) if url.startswith("http") else None
    return {
        "url": url,
        "screen": matched[0] if matched else None,
        "params": matched[1] if matched else {},
    }


# --------------------------------------------------------------------------- actions


def do_open(ctx: ActionContext) -> None:
    """Open a screen (`target: lead_detail`, placeholders from `values`) or a path/URL."""
    step = ctx.step
    target = step.target or (step.value if isinstance(step.value, str) else None)
    if not target:
        raise UiStepError("ui: open needs a target: a screen name, a path (/leads) or a URL")
    params = {k: v for k, v in step.values.items()}
    if isinstance(step.value, dict):
        params.update(step.value)
    if target.startswith(("/", "http://", "https://")):
        url = join_url(ctx.base_url, target)
        ready: Resolved | None = None
        label = target
    else:
        resolved = ctx.resolve(target, need="a screen")
        if resolved.screen is None or resolved.element is not None:
            raise UiStepError(f"ui: open takes a screen name, not {target!r}")
        screen = ctx.screens.screen(resolved.screen)
        if screen.url is None:
            raise UiStepError(f"screen {resolved.screen!r} has no url in the profile to open")
        missing = [name for name in screen.url_params if name not in params]
        if missing:
            raise UiStepError(
                f"ui: open {resolved.screen} needs values for {', '.join(missing)} "
                f"(its url is {screen.url})"
            )
        path = screen.url
        for name in screen.url_params:
            path = path.replace("{" + name + "}", quote(str(params.pop(name)), safe=""))
        if params:  # the rest become the query string (`q`, `page`)
            path += ("&" if "?" in path else "?") + urlencode(
                {k: "" if v is None else v for k, v in params.items()}
            )
        url = join_url(ctx.base_url, path)
        label = resolved.screen
        ready = (resolve(f"{resolved.screen}.{screen.ready}", ctx.screens)
                 if screen.ready else None)
    try:
        response = ctx.page.goto(url, timeout=ctx.timeout_ms)
    except PlaywrightTimeout:
        raise ActionFailed(
            f"open {label}: {url} did not load within {_seconds(ctx)}", expected=url,
            actual=f"not loaded within {_seconds(ctx)}; the page is at {ctx.page.url}",
        ) from None
    except PlaywrightError as exc:
        network = _NETWORK_ERROR.search(str(exc))
        if network:
            raise EnvironmentProblem(
                f"open {label}: {url} is unreachable ({network.group(0)})"
            ) from None
        raise
    status = response.status if response is not None else None
    ctx.data["status"] = status
    if status is not None and status >= 500:
        raise ActionFailed(f"open {label}: the CRM answered HTTP {status} for {url}",
                           expected="a page (HTTP status below 500)", actual=status)
    if ready is not None and ready.spec is not None:
        locator = build_locator(ctx.page, ready.spec)
        act_on(ctx, ready, locator, "seen",
             lambda: locator.wait_for(state="visible", timeout=ctx.timeout_ms))
    # What the page shows, for expectations on an opened screen (a `wait_until` that opens a
    # list again until an asynchronous import's rows appear).
    ctx.data["text"] = _page_text(ctx.page)


def _page_text(page: Page) -> str:
    """The page's visible text, bounded (a huge page must not bloat the results)."""
    try:
        text = page.inner_text("body", timeout=2000)
    except PlaywrightError:
        return ""
    return text[:PAGE_TEXT_LIMIT]


def set_value(ctx: ActionContext, resolved: Resolved, locator: Locator, value: Any) -> None:
    """Fill, select, check or upload, by what the element is."""
    kind = resolved.kind
    timeout = ctx.timeout_ms
    if kind in (None, "text"):
        try:
            locator.fill("" if value is None else str(value), timeout=timeout)
            return
        except PlaywrightError as exc:
            # Not a text field after all (the profile did not say `kind`): look at the element.
            if kind is not None or not _wrong_kind(exc):
                raise _not_done(ctx, resolved, locator, exc, "filled") from None
            kind = kind_of(locator)
    if kind == "select":
        options = value if isinstance(value, list) else [str(value)]
        act_on(ctx, resolved, locator, "selected",
             lambda: locator.select_option([str(o) for o in options], timeout=timeout))
    elif kind == "checkbox":
        checked = (value if isinstance(value, bool)
                   else str(value).lower() in ("1", "true", "yes", "on"))
        act_on(ctx, resolved, locator, "checked",
             lambda: locator.set_checked(checked, timeout=timeout))
    elif kind == "file":
        path = find_file(str(value), ctx.base_dir)
        act_on(ctx, resolved, locator, "given a file",
             lambda: locator.set_input_files(path, timeout=timeout))
    else:
        act_on(ctx, resolved, locator, "filled",
             lambda: locator.fill("" if value is None else str(value), timeout=timeout))


def _wrong_kind(exc: PlaywrightError) -> bool:
    """True when Playwright refused to fill because the element is not a text field."""
    text = str(exc)
    return "not an <input>" in text or "checkbox" in text or "Cannot type" in text


def kind_of(locator: Locator) -> str:
    try:
        tag, kind = locator.evaluate(
            "el => [el.tagName.toLowerCase(), (el.type || '').toLowerCase()]"
        )
    except PlaywrightError:
        return "other"
    if tag == "select":
        return "select"
    if kind in ("checkbox", "radio"):
        return "checkbox"
    if kind == "file":
        return "file"
    return "text"


def do_fill(ctx: ActionContext) -> None:
    """Fill one element with `value`, or many with `values` (keys: elements of `target`)."""
    step = ctx.step
    if step.values:
        screen = None
        if step.target:
            resolved = ctx.resolve(step.target, need="a screen")
            if resolved.element is not None or resolved.screen is None:
                raise UiStepError("ui: fill with `values` takes a screen as target (lead_form)")
            screen = resolved.screen
        for key, value in step.values.items():
            ref = f"{screen}.{key}" if screen and "." not in key and "=" not in key else key
            element, locator = ctx.element(ref)
            set_value(ctx, element, locator, value)
        return
    element, locator = ctx.element(step.target)
    set_value(ctx, element, locator, step.value)


def do_select(ctx: ActionContext) -> None:
    element, locator = ctx.element(ctx.step.target)
    value = ctx.step.value
    options = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    act_on(ctx, element, locator, "selected",
         lambda: locator.select_option(options, timeout=ctx.timeout_ms))


def do_check(ctx: ActionContext) -> None:
    element, locator = ctx.element(ctx.step.target)
    act_on(ctx, element, locator, "checked", lambda: locator.check(timeout=ctx.timeout_ms))


def do_uncheck(ctx: ActionContext) -> None:
    element, locator = ctx.element(ctx.step.target)
    act_on(ctx, element, locator, "unchecked", lambda: locator.uncheck(timeout=ctx.timeout_ms))


def do_click(ctx: ActionContext) -> None:
    element, locator = ctx.element(ctx.step.target)
    act_on(ctx, element, locator, "clicked", lambda: locator.click(timeout=ctx.timeout_ms))


def do_press(ctx: ActionContext) -> None:
    key = str(ctx.step.value or "")
    if not key:
        raise UiStepError("ui: press needs a value: the key, e.g. Enter or Control+A")
    if ctx.step.target:
        element, locator = ctx.element(ctx.step.target)
        act_on(ctx, element, locator, "given the key",
             lambda: locator.press(key, timeout=ctx.timeout_ms))
    else:
        ctx.page.keyboard.press(key)


def do_upload(ctx: ActionContext) -> None:
    element, locator = ctx.element(ctx.step.target)
    values = ctx.step.value if isinstance(ctx.step.value, list) else [ctx.step.value]
    paths = [_upload_copy(ctx, find_file(str(v), ctx.base_dir)) for v in values if v is not None]
    if not paths:
        raise UiStepError("ui: upload needs a value: the file path (fixtures/leads/x.csv)")
    act_on(ctx, element, locator, "given a file",
         lambda: locator.set_input_files(paths, timeout=ctx.timeout_ms))


def do_download(ctx: ActionContext) -> None:
    """Click `target`, keep the file it downloads, and read its table (CSV or .xlsx rows)."""
    element, locator = ctx.element(ctx.step.target)
    try:
        with ctx.page.expect_download(timeout=ctx.timeout_ms) as info:
            locator.click(timeout=ctx.timeout_ms)
        download = info.value
    except PlaywrightTimeout as exc:
        if _count(locator) == 0:
            raise _not_done(ctx, element, locator, exc, "clicked") from None
        raise ActionFailed(
            f"download {element.ref}: clicking {element.describe()} started no download "
            f"within {_seconds(ctx)}", expected="a download",
            actual=f"no download within {_seconds(ctx)}; the page is at {ctx.page.url}",
        ) from None
    except PlaywrightError as exc:
        raise _not_done(ctx, element, locator, exc, "clicked") from None
    name = download.suggested_filename or "download"
    path = ctx.save_file(name)
    download.save_as(path)
    raw = path.read_bytes()
    table = read_table(name, raw)
    # A workbook's `content` is its cells as text (tab-separated lines), so that `value`
    # finds a name in it as in a CSV file.
    content = table.text if table is not None else raw.decode("utf-8-sig", errors="replace")
    ctx.data.update({"filename": name, "path": str(path), "size": len(raw), "content": content})
    if table is not None:
        ctx.data["rows"] = table.rows
        ctx.data["header"] = table.header
    expected = ctx.step.value
    for wanted in expected if isinstance(expected, list) else [expected] if expected else []:
        ctx.check(f"download {element.ref} contains", str(wanted) in content,
                  f"contains {show_text(wanted)}", content[:500],
                  f"download {element.ref}: the downloaded file {name} does not contain "
                  f"{show_text(wanted)}")


def _expect(ctx: ActionContext, name: str, assertion: Callable[[], None], expected: Any,
            observe: Callable[[], Any], message: Callable[[Any], str]) -> Any:
    """Run a retrying Playwright assertion and record what the page showed, passed or failed.

    Returns what `observe` saw, for the step's data.
    """
    try:
        assertion()
    except AssertionError:
        seen = observe()
        ctx.check(name, False, expected, seen, message(seen))
        return seen
    except PlaywrightError as exc:
        seen = observe()
        ctx.check(name, False, expected, seen, f"{message(seen)} ({str(exc).splitlines()[0]})")
        return seen
    seen = observe()
    ctx.check(name, True, expected, seen, "")
    return seen


def do_expect_text(ctx: ActionContext) -> None:
    element, locator = ctx.element(ctx.step.target)
    wanted = text_pattern(ctx.step.value)
    name = f"expect_text {element.ref}"
    ctx.data["text"] = _expect(
        ctx, name,
        lambda: expect(locator.first).to_contain_text(wanted, timeout=ctx.timeout_ms),
        _text_wanted(wanted), lambda: _first_text(locator),
        lambda seen: (
            f"{name}: expected text {show_text(wanted)} in {element.describe()}, but "
            + (f"no element matched within {_seconds(ctx)}" if seen is None
               else f"found {seen!r} after {_seconds(ctx)}")
        ),
    )


def do_expect_visible(ctx: ActionContext) -> None:
    element, locator = ctx.element(ctx.step.target)
    name = f"expect_visible {element.ref}"
    _expect(
        ctx, name, lambda: expect(locator.first).to_be_visible(timeout=ctx.timeout_ms),
        "visible", lambda: _state(locator),
        lambda seen: f"{name}: {element.describe()} is not visible after {_seconds(ctx)}"
        + (" (no element matched)" if seen == NO_ELEMENT else " (matched, but hidden)"),
    )


def do_expect_hidden(ctx: ActionContext) -> None:
    element, locator = ctx.element(ctx.step.target)
    name = f"expect_hidden {element.ref}"
    visible = locator.filter(visible=True)
    shown: list[str] = []

    def observe() -> str:
        shown[:] = _texts(visible)
        return "visible" if shown else _state(locator)

    _expect(
        ctx, name, lambda: expect(visible).to_have_count(0, timeout=ctx.timeout_ms),
        "hidden", observe,
        lambda seen: f"{name}: {element.describe()} is still visible after {_seconds(ctx)}: "
        f"{shown!r}",
    )


def do_expect_count(ctx: ActionContext) -> None:
    element, locator = ctx.element(ctx.step.target)
    try:
        wanted = int(ctx.step.value)
    except (TypeError, ValueError):
        raise UiStepError(
            f"ui: expect_count needs a whole number as value, not {ctx.step.value!r}"
        ) from None
    name = f"expect_count {element.ref}"
    ctx.data["count"] = _expect(
        ctx, name, lambda: expect(locator).to_have_count(wanted, timeout=ctx.timeout_ms),
        wanted, lambda: _count(locator),
        lambda seen: f"{name}: expected {wanted} element(s) matching {element.describe()}, "
        f"found {seen} after {_seconds(ctx)}",
    )


def do_expect_url(ctx: ActionContext) -> None:
    """The page shows screen `target`, or its URL contains `value` (or matches /regex/)."""
    step = ctx.step
    if step.target and re.fullmatch(r"[a-z][a-z0-9_]*", step.target):
        resolved = ctx.resolve(step.target, need="a screen")
        matches: Callable[[str], bool] = _on_screen(ctx.screens, resolved.screen or "")
        shown = f'screen "{resolved.screen}" ({ctx.screens.screen(resolved.screen or "").url})'
    else:
        raw = step.value if step.value is not None else step.target
        if raw is None:
            raise UiStepError("ui: expect_url needs a screen as target or a URL part as value")
        pattern = text_pattern(raw)
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        matches = lambda url: regex.search(url) is not None  # noqa: E731
        shown = (f"URL matching {show_text(pattern)}" if isinstance(pattern, re.Pattern)
                 else f"URL containing {show_text(pattern)}")
    name = f"expect_url {step.target or step.value}"
    try:
        ctx.page.wait_for_url(matches, timeout=ctx.timeout_ms, wait_until="commit")
        ctx.check(name, True, shown, ctx.page.url, "")
    except PlaywrightTimeout:
        ctx.check(name, False, shown, ctx.page.url,
                  f"{name}: expected {shown}, the page is at {ctx.page.url} "
                  f"after {_seconds(ctx)}")


def do_expect_value(ctx: ActionContext) -> None:
    element, locator = ctx.element(ctx.step.target)
    wanted = text_pattern(ctx.step.value)
    name = f"expect_value {element.ref}"

    def observe() -> str | None:
        try:
            value = locator.evaluate_all("els => els.length ? String(els[0].value ?? '') : null")
        except PlaywrightError:
            return None
        return None if value is None else str(value)

    ctx.data["value"] = _expect(
        ctx, name, lambda: expect(locator.first).to_have_value(wanted, timeout=ctx.timeout_ms),
        f"matches {show_text(wanted)}" if isinstance(wanted, re.Pattern) else wanted, observe,
        lambda seen: f"{name}: expected value {show_text(wanted)} in {element.describe()}, "
        + ("but no element matched" if seen is None else f"found {seen!r}")
        + f" after {_seconds(ctx)}",
    )


def do_wait_for(ctx: ActionContext) -> None:
    """Wait for an element's state (`value`: visible|hidden|attached|detached) or a screen."""
    resolved = ctx.resolve(ctx.step.target, need="an element or a screen")
    if resolved.spec is None:
        shows = _on_screen(ctx.screens, resolved.screen or "")
        try:
            ctx.page.wait_for_url(shows, timeout=ctx.timeout_ms)
        except PlaywrightTimeout:
            raise ActionFailed(
                f"wait_for {resolved.ref}: the page did not reach screen {resolved.screen!r} "
                f"within {_seconds(ctx)}; it is at {ctx.page.url}",
                expected=f'screen "{resolved.screen}"', actual=ctx.page.url,
            ) from None
        return
    state = str(ctx.step.value or "visible")
    if state not in ("visible", "hidden", "attached", "detached"):
        raise UiStepError(
            f"ui: wait_for value must be visible, hidden, attached or detached, not {state!r}"
        )
    locator = build_locator(ctx.page, resolved.spec)
    try:
        locator.first.wait_for(state=state, timeout=ctx.timeout_ms)  # type: ignore[arg-type]
    except PlaywrightError:
        seen = _state(locator)
        if seen != NO_ELEMENT and state in ("attached", "detached"):
            seen = "attached"
        raise ActionFailed(
            f"wait_for {resolved.ref}: {resolved.describe()} did not become {state} "
            f"within {_seconds(ctx)} ("
            + ("no element matched)" if seen == NO_ELEMENT else f"it is {seen})"),
            expected=state, actual=seen,
        ) from None


def do_screenshot(ctx: ActionContext) -> None:
    path = ctx.save_file(f"{ctx.step.name or 'screenshot'}.png")
    ctx.page.screenshot(path=str(path), full_page=True, timeout=ctx.timeout_ms)
    ctx.data["screenshot"] = str(path)


def find_axe() -> Path | None:
    """axe-core's browser script: CRMQA_AXE_PATH, else node_modules here or at the project root."""
    candidates = [os.environ.get("CRMQA_AXE_PATH", "")]
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        candidates.append(str(base / "node_modules" / "axe-core" / "axe.min.js"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def run_axe(page: Page, locator: Locator | None = None,
            tags: list[str] | None = None) -> list[dict[str, Any]]:
    """axe-core's violations on the page (or inside `locator`), limited to rules with `tags`.

    Each violation: `id`, `impact`, `help`, `tags` and `nodes` (CSS paths of what failed).
    """
    axe = find_axe()
    if axe is None:
        raise EnvironmentProblem(
            "axe-core is not installed: run scripts/setup.sh (npm ci) or set CRMQA_AXE_PATH"
        )
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe))
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if tags:
        options["runOnly"] = {"type": "tag", "values": list(tags)}
    script = ("([el, options]) => axe.run(el || document, options)"
              ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
              " tags: v.tags, nodes: v.nodes.map(n => n.target.join(' '))})))")
    if locator is not None:
        return list(locator.evaluate("(el, options) => (" + script + ")([el, options])",
                                     options))
    return list(page.evaluate(script, [None, options]))


def do_accessibility(ctx: ActionContext) -> None:
    """Run axe-core on the page (or `target`); fail on violations of impact `value` or worse."""
    threshold = str(ctx.step.value or "serious")
    if threshold not in IMPACTS:
        raise UiStepError(
            f"ui: accessibility value is the least impact that fails: {', '.join(IMPACTS)}"
        )
    if ctx.step.target:
        element, locator = ctx.element(ctx.step.target)
        violations = act_on(ctx, element, locator, "checked", lambda: run_axe(ctx.page, locator))
    else:
        violations = run_axe(ctx.page)
    ctx.data["violations"] = violations
    least = IMPACTS.index(threshold)
    serious = [v for v in violations if v.get("impact") in IMPACTS[least:]]
    ctx.check(
        f"accessibility ({threshold} or worse)", not serious,
        f"no violations of impact {threshold} or worse",
        [f"{v['id']} ({v['impact']}): {', '.join(v['nodes'][:3])}" for v in serious],
        f"{len(serious)} accessibility violation(s) of impact {threshold} or worse: "
        + "; ".join(f"{v['id']}: {v['help']}" for v in serious[:5]),
    )


def _upload_copy(ctx: ActionContext, path: str) -> str:
    """The file to upload, with `${name}` placeholders filled from the step's `values`.

    Fixture files stay static and readable, yet each run can upload unique data (emails that
    no parallel worker or earlier run has used): `values: {unique: "{{ unique }}"}`. CSV and
    other text files are filled as text, Excel workbooks (.xlsx) cell by cell.
    """
    if not ctx.step.values:
        return path
    copy = ctx.save_file(Path(path).name)
    fill_placeholders(Path(path), ctx.step.values, copy)
    return str(copy)


def find_file(value: str, base_dir: Path | None = None) -> str:
    """A file to upload, found by the plan's data file rule (crmqa.plan.files)."""
    folders = search_folders(base_dir or Path.cwd())
    found = find_data_file(value, folders)
    if found is None:
        raise UiStepError(f"file to upload: {missing_file_message(value, folders)}")
    return str(found)


# A site the forged submission claims to come from: a real cross-site request carries it.
FORGERY_ORIGIN = "https://csrf-probe.invalid"
# What the browser knows of the forms on the page (or the one form around an element): for each
# distinct way of submitting it (the form's method and action, or a button's formmethod and
# formaction), its fields as another site can know them (every field but those the page hid
# in the form) and the files chosen in it. Files are read, so that a forged upload carries the
# same file: without it, a refusal could be for the missing file.
_FORMS_SCRIPT = """async (el) => {
  const forms = el ? [el.form || el.closest('form')].filter(Boolean) : [...document.forms];
  const encode = async (file) => {
    const bytes = new Uint8Array(await file.arrayBuffer());
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000)
      text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return {name: file.name, type: file.type || 'application/octet-stream', base64: btoa(text)};
  };
  const out = [];
  for (const form of forms) {
    const hidden = new Set([...form.querySelectorAll('input[type=hidden]')].map(i => i.name));
    let submitters = [...form.elements].filter(b => (b.type === 'submit' || b.type === 'image'));
    if (el && (el.type === 'submit' || el.type === 'image')) submitters = [el];
    if (!submitters.length) submitters = [undefined];
    const seen = new Set();
    for (const submitter of submitters) {
      const method = ((submitter && submitter.getAttribute('formmethod')) ||
                      form.getAttribute('method') || 'get').toUpperCase();
      const action = submitter && submitter.hasAttribute('formaction') ? submitter.formAction
                                                                       : form.action;
      if (seen.has(method + ' ' + action)) continue;
      seen.add(method + ' ' + action);
      const fields = [];
      const files = [];
      for (const [name, value] of new FormData(form, submitter)) {
        if (hidden.has(name)) continue;
        if (typeof value === 'string') fields.push([name, value]);
        else if (value.size > 0 || value.name) files.push([name, await encode(value)]);
      }
      const label = ((submitter && (submitter.innerText || submitter.value)) ||
                     form.getAttribute('aria-label') || form.getAttribute('name') || '').trim();
      out.push({method, action, label, fields, files,
                enctype: (submitter && submitter.getAttribute('formenctype')) || form.enctype,
                hidden: [...hidden].filter(Boolean)});
    }
  }
  return out;
}"""
_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def do_expect_csrf_protected(ctx: ActionContext) -> None:
    """Forms refuse a submission forged on another site.

    `target` an element (its submit button): the form around it. `target` a screen, or none:
    every form on the page that changes something (it posts), each way it can be submitted
    (buttons with their own formaction count), so that no form of the screen is left out. A
    page with no such form makes the step not applicable: there is nothing to forge.

    The forgery is what another site's page could make the user's browser send: each form's
    visible fields as the page shows them (filled by earlier steps) and its chosen files, with
    the user's session cookies and another site's Origin, but without the values the page hid
    in the form (a CSRF token among them). Refused means a 4xx answer; anything else (the
    change done, a redirect after it) fails the check, with the request and the answer as
    evidence.
    """
    from crmqa.profiles.models import NoEquivalent

    resolved = ctx.resolve(ctx.step.target) if ctx.step.target else None
    if resolved is not None and resolved.spec is not None:
        element, locator = ctx.element(ctx.step.target)
        scope = element.ref
        forms = act_on(ctx, element, locator, "read",
                       lambda: locator.first.evaluate(_FORMS_SCRIPT, timeout=ctx.timeout_ms))
        if not forms:
            raise ActionFailed(f"expect_csrf_protected {scope}: {element.describe()} is not "
                               "inside a form", expected="a form", actual="no form")
    else:
        scope = resolved.ref if resolved is not None else "the page"
        forms = ctx.page.evaluate(_FORMS_SCRIPT, None)
    changing = [form for form in forms if str(form["method"]) in _CHANGING_METHODS]
    ctx.data["forged"] = []
    if not changing:
        if resolved is not None and resolved.spec is not None:
            # A GET form changes nothing a forgery could abuse.
            ctx.data["forged"] = [{"method": form["method"], "url": form["action"]}
                                  for form in forms]
            ctx.check(f"expect_csrf_protected {scope}", True,
                      "a form that changes nothing (GET)", "GET", "")
            return
        raise NoEquivalent(f"{scope} at {ctx.page.url} has no form that changes anything "
                           f"(of {len(forms)} form(s), none posts): there is nothing to forge")
    for form in changing:
        _forge(ctx, scope, form)


def _forge(ctx: ActionContext, scope: str, form: dict[str, Any]) -> None:
    """Send one form's forgery and check it was refused."""
    import base64

    method = str(form["method"])
    fields = [(str(k), str(v)) for k, v in form["fields"]]
    files = [(str(k), v) for k, v in form["files"]]
    label = str(form.get("label") or "")
    name = f"expect_csrf_protected {scope}: {method} {urlsplit(str(form['action'])).path}" + (
        f" ({label})" if label else "")
    headers = {"Origin": FORGERY_ORIGIN, "Referer": f"{FORGERY_ORIGIN}/page"}
    options: dict[str, Any] = {}
    if files or "multipart" in str(form.get("enctype") or ""):
        multipart: dict[str, Any] = dict(fields)
        for key, file in files:
            multipart[key] = {"name": file["name"], "mimeType": file["type"],
                              "buffer": base64.b64decode(file["base64"])}
        options["multipart"] = multipart
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        options["data"] = urlencode(fields)
    try:
        response = ctx.page.request.fetch(
            str(form["action"]), method=method, headers=headers, max_redirects=0,
            timeout=ctx.timeout_ms, fail_on_status_code=False, **options)
    except PlaywrightError as exc:
        raise EnvironmentProblem(f"{name}: the forged request did not get an answer: "
                                 f"{str(exc).splitlines()[0]}") from None
    status = response.status
    location = response.headers.get("location")
    ctx.data["forged"].append({
        "method": method, "url": form["action"], "label": label, "fields": dict(fields),
        "files": [f"{key}={file['name']}" for key, file in files],
        "left_out": form["hidden"], "headers": {"Origin": FORGERY_ORIGIN},
        "status": status, "location": location,
    })
    refused = 400 <= status < 500
    answer = f"{status}" + (f" to {location}" if location else "")
    ctx.check(name, refused, "a 4xx refusal", answer,
              f"{name}: the form accepted a submission forged on another site: {method} "
              f"{form['action']} with the session's cookies, Origin {FORGERY_ORIGIN}"
              + (f", the chosen file(s) {', '.join(key for key, _ in files)}" if files else "")
              + f" and without its hidden field(s) {', '.join(form['hidden']) or '(none)'} "
              f"answered {answer}")


ACTIONS: dict[str, Callable[[ActionContext], None]] = {
    "open": do_open,
    "fill": do_fill,
    "select": do_select,
    "check": do_check,
    "uncheck": do_uncheck,
    "click": do_click,
    "press": do_press,
    "upload": do_upload,
    "download": do_download,
    "expect_text": do_expect_text,
    "expect_visible": do_expect_visible,
    "expect_hidden": do_expect_hidden,
    "expect_count": do_expect_count,
    "expect_url": do_expect_url,
    "expect_value": do_expect_value,
    "wait_for": do_wait_for,
    "screenshot": do_screenshot,
    "accessibility": do_accessibility,
    "expect_csrf_protected": do_expect_csrf_protected,
}
