"""UX acceptance in the browser: a task measured from `task_start` to `task_end`.

A task is a flow of UI steps a user does ("add a lead and find it again"). While one runs,
the UI driver counts what the user would do (steps, clicks, keystrokes, page loads, time on
task) and looks at every screen the task visits once: axe-core (WCAG 2.1 A/AA), the
browser's page timings (navigation timing, largest contentful paint, layout shift) and, at a
viewport, sideways scrolling and target sizes. `task_end` compares all of it with the
budgets the step gives. With `input: keyboard` the task's clicks and fills are done with the
keyboard only (Tab to the element, Enter or Space, typing), so a control the mouse alone can
reach fails the step that needs it.

`expect_feedback` and `expect_field_error` check what a user is told after a change.
Everything here reads the profile's screen maps and the page's ARIA, never one product's HTML.
See docs/ux.md.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page

from crmqa.core.results import Attachment, CheckResult
from crmqa.core.tasks import task_check_name
from crmqa.core.timing import Samples, measure_again
from crmqa.drivers.ui.actions import (
    ACTIONS,
    IMPACTS,
    ActionContext,
    ActionFailed,
    act_on,
    kind_of,
    run_axe,
    set_value,
    show_text,
    text_pattern,
)
from crmqa.drivers.ui.locators import build_locator
from crmqa.drivers.ui.targets import Resolved, UiStepError
from crmqa.drivers.ui.ux_options import BUDGETS, OPTIONS_OF
from crmqa.drivers.ui.ux_timing import (
    PAGE_TIMINGS,
    PAGE_TIMINGS_JS,
    Reloads,
    document_key,
    fresh_page,
    load_again,
)
from crmqa.plan.effects import step_repeatable
from crmqa.plan.models import UiStep

# WCAG 2.1 level A and AA: what acceptance asks by default.
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
# Named viewports (CSS pixels): a common phone, a tablet held upright, a laptop.
VIEWPORTS: dict[str, tuple[int, int]] = {
    "phone": (390, 844), "tablet": (820, 1180), "desktop": (1366, 768),
}
# WCAG 2.2's minimum target size (2.5.8, AA).
MIN_TARGET_PX = 24
# The actions a user performs; expectations are not steps of the task.
USER_ACTIONS = frozenset({"open", "fill", "select", "check", "uncheck", "click", "press",
                          "upload", "download"})
# The actions that begin and end a task: not steps of the task done again.
UX_TASK_ENDS = frozenset({"task_start", "task_end"})
# Actions that change something, after which a user must be told what happened.
CHANGES = frozenset({"click", "press", "check", "uncheck", "select", "upload"})
# A live region: what assistive technology announces without the user moving there.
LIVE_REGIONS = ('[role=status],[role=alert],[role=log],[aria-live]:not([aria-live="off"]),'
                "output")


@dataclass
class ScreenVisit:
    """What the task saw on one screen, the first time it was there."""

    screen: str
    url: str
    fetched_by: str | None = None  # the HTTP method of the document's request; None: unknown
    timings: dict[str, Any] = field(default_factory=dict)
    again: dict[str, Samples] = field(default_factory=dict)  # timing -> all its samples
    violations: list[dict[str, Any]] | None = None  # None: not audited
    scroll: dict[str, Any] | None = None  # page and viewport width, at a viewport
    small_targets: list[str] = field(default_factory=list)


@dataclass
class UxTask:
    """One task being measured."""

    name: str
    accessibility: str | None = None  # least impact that fails; None: no audit
    tags: tuple[str, ...] = WCAG_TAGS
    keyboard: bool = False
    viewport: tuple[str, int, int] | None = None  # (label, width, height)
    min_target_px: int = MIN_TARGET_PX
    started: float = field(default_factory=time.perf_counter)
    steps: int = 0
    clicks: int = 0
    keystrokes: int = 0
    page_loads: int = 0
    audit_s: float = 0.0  # time spent measuring, not part of time on task
    visits: dict[str, ScreenVisit] = field(default_factory=dict)
    unfocused: list[str] = field(default_factory=list)  # focus stops with no visible focus
    traps: list[str] = field(default_factory=list)
    on_load: Callable[[Any], None] | None = None
    # What it takes to do the task again (its time measured again): where it began, how that
    # page was fetched, the steps done, and whether they all acted on the task's own page.
    page: Any = None
    start_url: str = ""
    start_fetched_by: str | None = None
    done: list[UiStep] = field(default_factory=list)
    other_pages: bool = False

    @property
    def label(self) -> str:
        if self.viewport is None:
            return self.name
        return f"{self.name} ({self.viewport[0]} {self.viewport[1]}x{self.viewport[2]})"


@dataclass
class UxState:
    """A case's UX state in the UI driver: the task running, when the last change began, and
    what it takes to do that change again (for a feedback time measured again)."""

    task: UxTask | None = None
    last_change: float | None = None
    last_change_step: str = ""
    last_change_page: int | None = None  # id() of the page it was made on
    documents: dict[str, str] = field(default_factory=dict)  # URL -> method that fetched it
    since_open: dict[int, list[UiStep]] = field(default_factory=dict)  # page id -> its steps
    measuring_again: bool = False  # steps done again to measure a time: nothing measured twice


# --------------------------------------------------------------------------- options


def _viewport(value: Any) -> tuple[str, int, int]:
    text = str(value).strip().lower()
    if text in VIEWPORTS:
        return (text, *VIEWPORTS[text])
    match = re.fullmatch(r"(\d{3,4})x(\d{3,4})", text)
    if match is None:
        raise UiStepError(f"task_start viewport must be {', '.join(VIEWPORTS)} or WIDTHxHEIGHT "
                          f"(390x844), not {value!r}")
    return (text, int(match.group(1)), int(match.group(2)))


def _unknown_options(ctx: ActionContext) -> None:
    allowed = OPTIONS_OF[ctx.step.ui]
    unknown = sorted(set(ctx.step.values) - allowed)
    if unknown:
        raise UiStepError(f"ui: {ctx.step.ui} does not take {', '.join(unknown)}; it takes "
                          + (", ".join(sorted(allowed)) or "no values"))


# --------------------------------------------------------------------------- counting


def count_step(task: UxTask, ctx: ActionContext) -> None:
    """Count what a user does for this step: a mouse user clicks to focus a field and types;
    a keyboard user's Tabs and keys are counted as they are pressed."""
    step = ctx.step
    if step.ui not in USER_ACTIONS:
        return
    if step.ui == "fill" and step.values:
        task.steps += len(step.values)
        if not task.keyboard:
            for key, value in step.values.items():
                _count_fill(task, ctx, key, value)
        return
    task.steps += 1
    if task.keyboard:
        if step.ui == "open":
            task.keystrokes += 1  # the address typed or pasted, then Enter: one act
        return
    if step.ui in ("click", "check", "uncheck", "download", "upload"):
        task.clicks += 1
    elif step.ui == "select":
        task.clicks += 2  # open the list, pick
    elif step.ui == "fill":
        _count_fill(task, ctx, None, step.value)
    elif step.ui == "press":
        task.keystrokes += 1


def _count_fill(task: UxTask, ctx: ActionContext, key: str | None, value: Any) -> None:
    kind = None
    if key is not None and ctx.step.target and "." not in key and "=" not in key:
        try:
            kind = ctx.resolve(f"{ctx.step.target}.{key}").kind
        except UiStepError:
            kind = None
    if kind == "select" or isinstance(value, list):
        task.clicks += 2
    elif kind == "checkbox" or isinstance(value, bool):
        task.clicks += 1
    else:
        task.clicks += 1
        task.keystrokes += len("" if value is None else str(value))


# --------------------------------------------------------------------------- per screen

_SCROLL_JS = """() => ({page_width: document.documentElement.scrollWidth,
  viewport_width: document.documentElement.clientWidth})"""

# Visible targets a pointer user must hit, smaller than `min` in a dimension, by WCAG 2.5.8's
# rule: exempt are a link inside a sentence (inline), and a small target whose `min`-wide circle
# touches no other target and no other small target's circle (spacing); also targets the
# user cannot see.
_TARGETS_JS = """(min) => {
  const sel = 'a[href],button,input:not([type=hidden]),select,textarea,summary,'
    + '[role=button],[role=link],[role=checkbox],[role=tab],[role=menuitem]';
  const targets = [];
  for (const el of document.querySelectorAll(sel)) {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (box.width === 0 || box.height === 0 || style.visibility === 'hidden') continue;
    if (box.right < 0 || box.bottom < 0) continue;  // moved off screen (skip links)
    let inline = false;
    if (style.display === 'inline' && el.parentElement) {
      const own = (el.textContent || '').trim().length;
      inline = (el.parentElement.textContent || '').trim().length > own;
    }
    targets.push({el, box, inline, small: !inline && (box.width < min || box.height < min)});
  }
  const r = min / 2;
  const centre = t => [t.box.left + t.box.width / 2, t.box.top + t.box.height / 2];
  const near = (c, b) => {
    const dx = Math.max(b.left - c[0], 0, c[0] - b.right);
    const dy = Math.max(b.top - c[1], 0, c[1] - b.bottom);
    return dx * dx + dy * dy < r * r;
  };
  const out = [];
  for (const t of targets.filter(t => t.small)) {
    const c = centre(t);
    const crowded = targets.some(o => o !== t && !o.el.contains(t.el) && !t.el.contains(o.el)
      && (near(c, o.box) || (o.small && Math.hypot(...centre(o).map((v, i) => v - c[i])) < min)));
    if (!crowded) continue;
    const name = (t.el.getAttribute('aria-label') || t.el.textContent || t.el.name || t.el.id
      || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
    out.push(`${t.el.tagName.toLowerCase()} "${name}" ${Math.round(t.box.width)}x`
      + `${Math.round(t.box.height)}`);
  }
  return out;
}"""


def screen_key(page: Page, ctx: ActionContext) -> str:
    """The profile's screen the page shows, else its path: what a visit is counted by."""
    path = urlsplit(page.url).path
    matched = ctx.screens.match_url(path) if page.url.startswith("http") else None
    return matched[0] if matched else path or page.url


def visit(task: UxTask, ctx: ActionContext) -> None:
    """Look at the screen the page shows, once per task: audit, timings, viewport checks."""
    page = ctx.page
    if not page.url.startswith("http"):
        return
    clock = time.perf_counter()
    try:
        try:
            page.wait_for_load_state("load", timeout=ctx.timeout_ms)
        except PlaywrightError:
            return  # still loading: the next step looks again
        key = screen_key(page, ctx)
        if key in task.visits:
            return
        documents = ctx.ux.documents if ctx.ux is not None else {}
        seen = ScreenVisit(screen=key, url=page.url,
                           fetched_by=documents.get(document_key(page.url)))
        task.visits[key] = seen
        seen.timings = dict(page.evaluate(PAGE_TIMINGS_JS))
        if task.accessibility is not None:
            seen.violations = run_axe(page, tags=list(task.tags))
        if task.viewport is not None:
            seen.scroll = dict(page.evaluate(_SCROLL_JS))
            seen.small_targets = list(page.evaluate(_TARGETS_JS, task.min_target_px))
    except PlaywrightError:
        return  # the page went away while it was read: the next step looks again
    finally:
        task.audit_s += time.perf_counter() - clock


# --------------------------------------------------------------------------- keyboard

_ACTIVE_JS = """() => {
  const a = document.activeElement;
  if (!a || a === document.body || a === document.documentElement) return null;
  const ids = window.__crmqaFocusIds || (window.__crmqaFocusIds = new WeakMap());
  if (!ids.has(a)) ids.set(a, (window.__crmqaFocusNext = (window.__crmqaFocusNext || 0) + 1));
  const s = getComputedStyle(a);
  const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
  const shadow = !!s.boxShadow && s.boxShadow !== 'none';
  const name = (a.getAttribute('aria-label') || a.labels?.[0]?.textContent || a.textContent
    || a.name || a.id || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
  return {id: ids.get(a), visible: outline || shadow,
          what: `${a.tagName.toLowerCase()} "${name}"`};
}"""

_TABBABLE_JS = """() => [...document.querySelectorAll(
  'a[href],button,input:not([type=hidden]),select,textarea,summary,[tabindex],'
  + '[contenteditable=""],[contenteditable=true]')].filter(el => {
    if (el.disabled || el.tabIndex < 0) return false;
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  }).length"""

_HOLDS_FOCUS_JS = ("el => !!document.activeElement && (el === document.activeElement"
                   " || el.contains(document.activeElement))")
# After a Tab: where the focus is, and whether the element wanted holds it (one round trip).
_AFTER_TAB_JS = ("el => ({active: (" + _ACTIVE_JS + ")(), holds: (" + _HOLDS_FOCUS_JS
                 + ")(el)})")


def tab_to(task: UxTask, ctx: ActionContext, resolved: Resolved, locator: Locator) -> None:
    """Move the focus to the element with Tab only; fail when the keyboard cannot reach it."""
    page = ctx.page
    target = locator.first
    act_on(ctx, resolved, target, "found",
         lambda: target.wait_for(state="visible", timeout=ctx.timeout_ms))
    if target.evaluate(_HOLDS_FOCUS_JS):
        return
    tabbable = int(page.evaluate(_TABBABLE_JS))
    limit = min(2 * tabbable + 4, 400)
    seen: list[int] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        task.keystrokes += 1
        after = target.evaluate(_AFTER_TAB_JS)
        active = after["active"]
        if active is not None:
            seen.append(int(active["id"]))
            if not active["visible"] and active["what"] not in task.unfocused:
                task.unfocused.append(active["what"])
        if after["holds"]:
            return
    distinct = len(set(seen))
    if seen and distinct < tabbable and len(seen) > distinct:
        trap = (f"the focus kept cycling among {distinct} of {tabbable} focusable elements "
                f"and never reached {resolved.describe()}")
        task.traps.append(trap)
        raise ActionFailed(f"{ctx.step.ui} {resolved.ref} (keyboard only): {trap}",
                           expected="reachable with Tab", actual="focus trapped")
    raise ActionFailed(
        f"{ctx.step.ui} {resolved.ref} (keyboard only): {resolved.describe()} cannot be reached "
        f"with Tab ({len(seen)} presses went through {distinct} focusable elements without it; "
        "is it reachable only by mouse?)",
        expected="reachable with Tab", actual="not in the tab order")


def _activate(task: UxTask, ctx: ActionContext, resolved: Resolved, locator: Locator,
              key: str) -> None:
    tab_to(task, ctx, resolved, locator)
    ctx.page.keyboard.press(key)
    task.keystrokes += 1


def _key_fill(task: UxTask, ctx: ActionContext, resolved: Resolved, locator: Locator,
              value: Any) -> None:
    tab_to(task, ctx, resolved, locator)
    kind = resolved.kind or kind_of(locator)
    if kind == "checkbox":
        wanted = (value if isinstance(value, bool)
                  else str(value).lower() in ("1", "true", "yes", "on"))
        if bool(locator.first.is_checked()) != wanted:
            ctx.page.keyboard.press("Space")
            task.keystrokes += 1
        return
    if kind in ("select", "file"):
        # The focused control takes its choice as a keyboard user gives it (type to pick);
        # Playwright sets it directly, and one keystroke is counted.
        set_value(ctx, resolved, locator, value)
        task.keystrokes += 1
        return
    text = "" if value is None else str(value)
    ctx.page.keyboard.press("ControlOrMeta+A")
    ctx.page.keyboard.type(text)
    task.keystrokes += 1 + len(text)


def keyboard_action(ctx: ActionContext) -> bool:
    """Do the step with the keyboard when the task says so; False when it is not such a step."""
    task = ctx.ux.task if ctx.ux is not None else None
    if task is None or not task.keyboard:
        return False
    step = ctx.step
    if step.ui == "click":
        resolved, locator = ctx.element(step.target)
        _activate(task, ctx, resolved, locator, "Enter")
    elif step.ui in ("check", "uncheck"):
        resolved, locator = ctx.element(step.target)
        if bool(locator.first.is_checked()) != (step.ui == "check"):
            _activate(task, ctx, resolved, locator, "Space")
    elif step.ui in ("fill", "select"):
        if step.values:
            screen = step.target or ""
            for key, value in step.values.items():
                ref = f"{screen}.{key}" if screen and "." not in key and "=" not in key else key
                resolved, locator = ctx.element(ref)
                _key_fill(task, ctx, resolved, locator, value)
        else:
            resolved, locator = ctx.element(step.target)
            _key_fill(task, ctx, resolved, locator, step.value)
    elif step.ui == "press" and step.target:
        resolved, locator = ctx.element(step.target)
        tab_to(task, ctx, resolved, locator)
        ctx.page.keyboard.press(str(step.value or ""))
        task.keystrokes += 1
    else:
        return False
    return True


# --------------------------------------------------------------------------- a step


def perform(ctx: ActionContext) -> None:
    """Do one UI step: counted for the task running, with the keyboard when the task says
    so, and the screen it reaches looked at. The steps are kept, so that a time can be
    measured again by doing the same again (the "measured again" section below)."""
    ux: UxState = ctx.ux
    step, page = ctx.step, ctx.page
    if step.ui in CHANGES:
        ux.last_change, ux.last_change_page = time.perf_counter(), id(page)
        ux.last_change_step = step_label(step)
    if step.ui == "open":
        ux.since_open[id(page)] = [step]
    elif id(page) in ux.since_open:
        ux.since_open[id(page)].append(step)
    task = ux.task
    if task is not None:
        if step.ui not in UX_TASK_ENDS:
            task.done.append(step)
            task.other_pages = task.other_pages or page is not task.page
        count_step(task, ctx)
    if not keyboard_action(ctx):
        (UX_ACTIONS.get(step.ui) or ACTIONS[step.ui])(ctx)
    if task is not None and ux.task is task:
        visit(task, ctx)  # a screen the task reached with this step


def step_label(step: UiStep) -> str:
    """`click lead_form.save`: how a UI step is named in checks, events and messages."""
    return f"{step.ui} {step.target or ''}".strip()


def _writing_step(steps: list[UiStep]) -> UiStep | None:
    """The step that keeps a timing from being measured again, as a reader knows it: the
    first that may change records, a change (a click on Save) before a field filled."""
    writing = [step for step in steps if not step_repeatable(step)]
    return next((step for step in writing if step.ui in CHANGES),
                writing[0] if writing else None)


# --------------------------------------------------------------------------- actions


def do_task_start(ctx: ActionContext) -> None:
    """Begin measuring a task: `value` is its name; `values` say what to look at."""
    _unknown_options(ctx)
    if ctx.ux.task is not None:
        raise UiStepError(f"task {ctx.ux.task.name!r} is still running: end it with "
                          "ui: task_end before starting another")
    options = ctx.step.values
    name = str(ctx.step.value or ctx.step.name or "task")
    accessibility = options.get("accessibility")
    if accessibility is not None and str(accessibility) not in IMPACTS:
        raise UiStepError(f"task_start accessibility is the least impact that fails: "
                          f"{', '.join(IMPACTS)}")
    tags = options.get("tags", WCAG_TAGS)
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise UiStepError("task_start tags is a list of axe-core tags (wcag2a, wcag21aa, ...)")
    mode = str(options.get("input", "mouse"))
    if mode not in ("mouse", "keyboard"):
        raise UiStepError(f"task_start input is mouse or keyboard, not {mode!r}")
    viewport = _viewport(options["viewport"]) if options.get("viewport") else None
    try:
        min_target = int(options.get("min_target_px", MIN_TARGET_PX))
    except (TypeError, ValueError):
        raise UiStepError("task_start min_target_px is a whole number of CSS pixels") from None
    task = UxTask(name=name, accessibility=None if accessibility is None else str(accessibility),
                  tags=tuple(tags), keyboard=mode == "keyboard", viewport=viewport,
                  min_target_px=min_target)
    if viewport is not None:
        ctx.page.set_viewport_size({"width": viewport[1], "height": viewport[2]})

    def loaded(_page: Any) -> None:
        task.page_loads += 1

    task.on_load = loaded
    ctx.page.on("load", loaded)
    task.page, task.start_url = ctx.page, ctx.page.url
    task.start_fetched_by = ctx.ux.documents.get(document_key(ctx.page.url))
    ctx.ux.task = task
    ctx.data["task"] = task.label
    visit(task, ctx)  # the screen the task starts on


def do_task_end(ctx: ActionContext) -> None:
    """End the task: every metric against its budget, and what each screen showed."""
    _unknown_options(ctx)
    task = ctx.ux.task
    if task is None:
        raise UiStepError("ui: task_end without a task: start one with ui: task_start")
    visit(task, ctx)
    ctx.ux.task = None
    if task.on_load is not None:
        ctx.page.remove_listener("load", task.on_load)
    elapsed = time.perf_counter() - task.started - task.audit_s
    measured: dict[str, Any] = {
        "steps": task.steps, "clicks": task.clicks, "keystrokes": task.keystrokes,
        "page_loads": task.page_loads, "time_s": round(elapsed, 2),
        "load_ms": _worst(task, "load_ms"), "lcp_ms": _worst(task, "lcp_ms"),
        "cls": _worst(task, "cls"),
    }
    ctx.data["metrics"] = measured
    ctx.data["screens"] = list(task.visits)
    limits = {metric: _budget_check(ctx, task, metric, budget, measured.get(metric))
              for metric, budget in ctx.step.values.items()}
    if task.accessibility is not None:
        _accessibility_checks(ctx, task)
    if task.keyboard:
        ctx.check(task_check_name(task.label, "visible focus"), not task.unfocused,
                  "a visible focus indicator at every focus stop",
                  task.unfocused or "visible at every stop",
                  f"task {task.label}: no visible focus on {', '.join(task.unfocused[:5])}")
        ctx.check(task_check_name(task.label, "no focus trap"), not task.traps, "no focus trap",
                  task.traps or "none", f"task {task.label}: " + "; ".join(task.traps))
    if task.viewport is not None:
        _viewport_checks(ctx, task)
    _timings_again(ctx, task, limits, measured)
    ctx.attachments.append(Attachment(name=f"task {task.label}: screens",
                                      mime_type="text/csv", text=_timings_csv(task)))


def _worst(task: UxTask, key: str) -> Any:
    values: list[float] = [v.timings[key] for v in task.visits.values()
                           if v.timings.get(key) is not None]
    return max(values) if values else None


def _budget_check(ctx: ActionContext, task: UxTask, metric: str, budget: Any,
                  value: Any) -> float:
    """Check one measured value against its budget; the budget, as a number."""
    try:
        limit = float(budget)
    except (TypeError, ValueError):
        raise UiStepError(f"task_end {metric} budget must be a number, not {budget!r}") from None
    unit = BUDGETS[metric]
    shown = f"at most {budget:g}{unit}" if isinstance(budget, float) else f"at most {budget}{unit}"
    name = task_check_name(task.label, metric)
    if value is None:
        # The browser gives no such entry (a remote non-Chromium browser): said, not judged.
        ctx.check(name, True, shown, "not measured by this browser", "")
        return limit
    ctx.check(name, float(value) <= limit, shown, value,
              f"task {task.label}: {metric} {value}{unit} is over the budget of {budget}{unit}")
    return limit


# --------------------------------------------------------------------------- measured again
# A timing that alone missed its budget is measured again where that writes nothing, and
# judged by the median (crmqa.core.timing; docs/ux.md, "Timings measured again").


def _timings_again(ctx: ActionContext, task: UxTask, limits: dict[str, float],
                   measured: dict[str, Any]) -> None:
    """When timings are all the task failed, they are measured again (crmqa.core.timing):
    each screen over a page-timing budget is loaded again, and a task that changes no
    records is done again for its time; each is judged by the median."""
    names = {task_check_name(task.label, metric): metric for metric in (*PAGE_TIMINGS, "time_s")}
    failed = [check for check in ctx.checks if not check.ok]
    if not failed or any(check.name not in names for check in failed):
        return
    reloads: dict[str, Reloads] = {}
    for index, check in enumerate(ctx.checks):
        metric = names.get(check.name)
        if check.ok or metric is None:
            continue
        if metric == "time_s":
            ctx.checks[index] = _task_time_again(ctx, task, check, limits[metric], measured)
            continue
        limit = limits[metric]
        values: dict[str, float] = {}  # screen -> what it is judged by
        for seen in task.visits.values():
            first = seen.timings.get(metric)
            if first is None:
                continue
            values[seen.screen] = float(first)
            if float(first) <= limit or seen.fetched_by != "GET":
                continue
            screen_reloads = reloads.setdefault(seen.screen, Reloads(
                functools.partial(load_again, ctx.page, seen.url, ctx.timeout_ms)))
            seen.again[metric] = measure_again(float(first), screen_reloads.again(metric))
            values[seen.screen] = seen.again[metric].median
        screen = max(values, key=lambda name: values[name])
        worst = round(values[screen], 1)
        measured[metric] = worst
        unit, budget = BUDGETS[metric], ctx.step.values[metric]
        ctx.checks[index] = check.model_copy(update={
            "ok": worst <= limit, "actual": worst,
            "message": "" if worst <= limit else
            f"task {task.label}: {metric} {worst:g}{unit} is over the budget of {budget}{unit} "
            f"on {screen} {_tries(task.visits[screen], metric)}"})


def _task_time_again(ctx: ActionContext, task: UxTask, check: CheckResult, limit: float,
                     measured: dict[str, Any]) -> CheckResult:
    """The time-on-task check, judged by the median of the task done again, when doing it
    again changes no records; else as measured once, saying why."""
    why = _why_task_once(task)
    first = float(measured["time_s"])
    if why is None:
        samples = measure_again(first, lambda: _task_time(ctx, task), unit="s")
        why = samples.note() if samples.repeated else "(measured once: it could not be done again)"
    else:
        samples = Samples((first,), "s")
    worst = round(samples.median, 2)
    measured["time_s"] = worst
    budget = ctx.step.values["time_s"]
    return check.model_copy(update={
        "ok": worst <= limit, "actual": worst,
        "message": "" if worst <= limit else
        f"task {task.label}: time_s {worst:g}s is over the budget of {budget}s {why}"})


def _why_task_once(task: UxTask) -> str | None:
    """Why a task cannot be done again to time it; None when it can."""
    if task.other_pages:
        return "(measured once: it acts on more than one page)"
    writing = _writing_step(task.done)
    if writing is not None:
        return f"(measured once: its step '{step_label(writing)}' may change records)"
    if task.start_url.startswith("http") and task.start_fetched_by != "GET":
        return "(measured once: the page it starts on answered a form, or is not known)"
    return None


def _task_time(ctx: ActionContext, task: UxTask) -> float | None:
    """The time on task of the same steps done again on a page of their own (no audit);
    None when they did not go the same way."""
    try:
        with fresh_page(ctx.page) as fresh:
            if task.start_url.startswith("http"):
                fresh.goto(task.start_url, wait_until="load", timeout=ctx.timeout_ms)
            again = UxTask(name=task.name, keyboard=task.keyboard, page=fresh)
            state = UxState(task=again, measuring_again=True)
            if not _do_again(ctx, fresh, task.done, state):
                return None
            visit(again, replace(ctx, page=fresh, ux=state))
            return time.perf_counter() - again.started - again.audit_s
    except (ActionFailed, UiStepError, PlaywrightError):
        return None


def _do_again(ctx: ActionContext, page: Page, steps: list[UiStep], state: UxState) -> bool:
    """Do `steps` again on `page`; False when one of them did not do what it did the first
    time (a check failed): its time would not be the same measurement."""
    for step in steps:
        action = replace(ctx, page=page, step=step, data={}, checks=[], attachments=[],
                         ux=state, timeout_s=step.timeout_s or ctx.timeout_s)
        perform(action)
        if any(not check.ok for check in action.checks):
            return False
    return True


def _tries(seen: ScreenVisit, metric: str) -> str:
    """How a screen's timing was judged, for a failure message."""
    samples = seen.again.get(metric)
    if samples is not None and samples.repeated:
        return samples.note()
    if samples is not None:
        return "(measured once: it did not load again)"
    if seen.fetched_by is None:
        return "(measured once: how its page was fetched is not known)"
    return (f"(measured once: its page answered a form ({seen.fetched_by}), and loading it "
            "again would not show it)")


# --------------------------------------------------------------------------- task_end's checks


def _accessibility_checks(ctx: ActionContext, task: UxTask) -> None:
    threshold = task.accessibility or "serious"
    least = IMPACTS.index(threshold)
    for visit_ in task.visits.values():
        violations = visit_.violations or []
        failing = [v for v in violations if v.get("impact") in IMPACTS[least:]]
        ctx.check(
            task_check_name(task.label, f"accessibility of {visit_.screen}"), not failing,
            f"no {'/'.join(task.tags)} violations of impact {threshold} or worse",
            [f"{v['id']} ({v['impact']}): {', '.join(v['nodes'][:3])}" for v in failing]
            or f"{len(violations)} violation(s), none {threshold} or worse",
            f"task {task.label}: {len(failing)} accessibility violation(s) of impact "
            f"{threshold} or worse on {visit_.screen}: "
            + "; ".join(f"{v['id']}: {v['help']}" for v in failing[:5]),
        )
        ctx.attachments.append(Attachment(name=f"axe: {visit_.screen}", mime_type="text/csv",
                                          text=axe_table(violations)))


def axe_table(violations: list[dict[str, Any]]) -> str:
    """One screen's axe-core violations as CSV (Allure shows CSV as a table)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["rule", "impact", "wcag", "elements", "help"])
    for v in sorted(violations, key=lambda v: -IMPACTS.index(v.get("impact") or "minor")):
        wcag = " ".join(t for t in v.get("tags", []) if t.startswith("wcag"))
        writer.writerow([v.get("id"), v.get("impact"), wcag, len(v.get("nodes", [])),
                         v.get("help")])
    if not violations:
        writer.writerow(["(none)", "", "", 0, "no violations"])
    return out.getvalue()


def _timings_csv(task: UxTask) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["screen", "url", "ttfb_ms", "load_ms", "lcp_ms", "cls",
                     "axe violations", "page width", "small targets", "measured again"])
    for v in task.visits.values():
        t = v.timings
        again = "; ".join(f"{metric}: {samples.shown()}, median {samples.median:g}"
                          for metric, samples in v.again.items() if samples.repeated)
        writer.writerow([v.screen, v.url, t.get("ttfb_ms"), t.get("load_ms"), t.get("lcp_ms"),
                         t.get("cls"), "" if v.violations is None else len(v.violations),
                         "" if v.scroll is None else v.scroll.get("page_width"),
                         len(v.small_targets), again])
    return out.getvalue()


def _viewport_checks(ctx: ActionContext, task: UxTask) -> None:
    assert task.viewport is not None
    for visit_ in task.visits.values():
        scroll = visit_.scroll or {}
        width, viewport = scroll.get("page_width"), scroll.get("viewport_width")
        sideways = width is not None and viewport is not None and width > viewport + 1
        ctx.check(task_check_name(task.label, f"no horizontal scroll on {visit_.screen}"),
                  not sideways,
                  f"page width at most {viewport}px", f"{width}px",
                  f"task {task.label}: {visit_.screen} is {width}px wide in a {viewport}px "
                  "viewport: the user must scroll sideways")
        small = visit_.small_targets
        ctx.check(task_check_name(task.label, f"target size on {visit_.screen}"), not small,
                  f"targets at least {task.min_target_px}x{task.min_target_px}px",
                  small or "all large enough",
                  f"task {task.label}: {len(small)} target(s) smaller than "
                  f"{task.min_target_px}px on {visit_.screen}: {', '.join(small[:5])}")
    try:
        path = ctx.save_file(f"viewport-{task.viewport[0]}.png")
        ctx.page.screenshot(path=str(path), full_page=True, timeout=ctx.timeout_ms)
        ctx.attachments.append(Attachment(name=f"screenshot: {task.label}",
                                          mime_type="image/png", path=str(path)))
    except PlaywrightError as exc:
        ctx.attachments.append(Attachment(name="screenshot failed",
                                          text=str(exc).splitlines()[0]))


_LIVE_TEXT_JS = """([selector, inside]) => {
  const shown = el => { const b = el.getBoundingClientRect();
    return b.width > 0 && b.height > 0 && getComputedStyle(el).visibility !== 'hidden'; };
  const out = [];
  for (const el of document.querySelectorAll(selector)) {
    const text = (el.innerText || '').trim();
    if (text && shown(el)) out.push({text: text.slice(0, 200),
      role: el.getAttribute('role') || ('aria-live=' + el.getAttribute('aria-live'))});
  }
  return out;
}"""

_REGION_OF_JS = f"""el => {{
  const region = el.closest('{LIVE_REGIONS}');
  return region ? (region.getAttribute('role') || 'aria-live') : null;
}}"""


def do_expect_feedback(ctx: ActionContext) -> None:
    """After the last change, a message is shown within `within_s`, in a live region.

    `target` (optional) is where the profile says the message appears; `value` (optional) the
    text it must hold. Time runs from the start of the last change step (a click, a press...).
    """
    _unknown_options(ctx)
    ux = ctx.ux
    options = ctx.step.values
    try:
        within = float(options.get("within_s", 1.0))
    except (TypeError, ValueError):
        raise UiStepError("expect_feedback within_s is a number of seconds") from None
    kind = str(options.get("kind", "any"))
    if kind not in ("any", "confirmation", "error"):
        raise UiStepError("expect_feedback kind is confirmation, error or any")
    since = ux.last_change
    if since is None:
        raise UiStepError("ui: expect_feedback follows a change (a click, a press, a check...); "
                          "no change came before it in this case")
    wanted = text_pattern(ctx.step.value) if ctx.step.value is not None else None
    selector = {"confirmation": "[role=status],[aria-live=polite],output",
                "error": '[role=alert],[aria-live=assertive]'}.get(kind, LIVE_REGIONS)
    name = f"expect_feedback after {ux.last_change_step}".strip()
    budget = f"a message in a live region within {within:g} s"
    if wanted is not None:
        budget += f", {'matching' if isinstance(wanted, re.Pattern) else 'containing'} " \
                  f"{show_text(wanted)}"
    resolved: Resolved | None = None
    if ctx.step.target:
        resolved, _ = ctx.element(ctx.step.target)
    # Watch well past the budget: a late message is reported as late (with its time), and
    # only one that never comes as missing.
    watch = functools.partial(_watch_feedback, spec=resolved.spec if resolved else None,
                              selector=selector, wanted=wanted,
                              window=max(ctx.timeout_s, within * 3))
    found, elapsed = watch(ctx.page, since)
    tries = ""
    if found is not None and found.get("region") is not None and elapsed > within:
        samples, tries = _feedback_again(ctx, elapsed, watch)
        elapsed = round(samples.median, 2)
    ctx.data["feedback"] = found
    ctx.data["feedback_s"] = elapsed if found is not None else None
    if found is None:
        where = resolved.describe() if resolved is not None else "any live region"
        ctx.check(name, False, budget, f"nothing within {elapsed:g} s",
                  f"{name}: no message in {where} within {elapsed:g} s of the change")
        return
    if found.get("region") is None:
        ctx.check(name, False, budget, f"{found['text']!r} shown outside any live region",
                  f"{name}: {found['text']!r} is shown, but not in a live region "
                  "(role=status/alert or aria-live): assistive technology does not announce it")
        return
    ctx.check(name, elapsed <= within, budget,
              f"{found['text']!r} in {found['region']} after {elapsed:g} s {tries}".rstrip(),
              f"{name}: the message {found['text']!r} came after {elapsed:g} s, over the "
              f"budget of {within:g} s {tries}".rstrip())


def _watch_feedback(page: Page, since: float, *, spec: Any, selector: str,
                    wanted: str | re.Pattern[str] | None,
                    window: float) -> tuple[dict[str, Any] | None, float]:
    """Watch `page` for the message until `window` seconds after `since`: what was seen (or
    None) and when, in seconds after `since`."""
    locator = build_locator(page, spec) if spec is not None else None
    deadline = since + window
    while True:
        found = _feedback_seen(page, locator, selector, wanted)
        if found is not None or time.perf_counter() >= deadline:
            return found, round(time.perf_counter() - since, 2)
        time.sleep(0.02)


def _feedback_again(ctx: ActionContext, first: float,
                    watch: Callable[[Page, float], tuple[dict[str, Any] | None, float]],
                    ) -> tuple[Samples, str]:
    """A late message's time, measured again when the case can make the same change again
    without changing records: the steps since the page was opened, done again on a page of
    their own. The samples, and how they were taken (for the message)."""
    ux: UxState = ctx.ux
    if ux.measuring_again:
        return Samples((first,), "s"), ""
    steps, why = _feedback_steps(ux, ctx.page)
    if not steps:
        return Samples((first,), "s"), why

    def again() -> float | None:
        try:
            with fresh_page(ctx.page) as fresh:
                task = UxTask(name="again", keyboard=ux.task.keyboard, page=fresh) \
                    if ux.task is not None else None
                state = UxState(task=task, measuring_again=True)
                if not _do_again(ctx, fresh, steps, state) or state.last_change is None:
                    return None
                found, elapsed = watch(fresh, state.last_change)
                return elapsed if found is not None and found.get("region") else None
        except (ActionFailed, UiStepError, PlaywrightError):
            return None

    samples = measure_again(first, again, unit="s")
    return samples, (samples.note() if samples.repeated
                     else "(measured once: the change could not be made again)")


def _feedback_steps(ux: UxState, page: Page) -> tuple[list[UiStep], str]:
    """The steps that make the last change again, from the page's last `open` (the page
    then is where it was), or none and why (for the message)."""
    if ux.last_change_page != id(page):
        return [], "(measured once: the change was made on another page)"
    steps = ux.since_open.get(id(page), [])[:-1]  # without this expect_feedback
    if not any(step.ui in CHANGES for step in steps):
        return [], "(measured once: the case did not open the page before the change)"
    writing = _writing_step(steps)
    if writing is not None:
        return [], f"(measured once: '{step_label(writing)}' may change records)"
    return steps, ""


def _feedback_seen(page: Page, locator: Locator | None, selector: str,
                   wanted: str | re.Pattern[str] | None) -> dict[str, Any] | None:
    try:
        if locator is not None:
            for element in locator.all():
                if not element.is_visible():
                    continue
                text = element.inner_text(timeout=500).strip()
                if text and _matches(text, wanted):
                    return {"text": text[:200], "region": element.evaluate(_REGION_OF_JS)}
            return None
        for item in page.evaluate(_LIVE_TEXT_JS, [selector, None]):
            if _matches(item["text"], wanted):
                return {"text": item["text"], "region": item["role"]}
    except PlaywrightError:
        return None  # the page is navigating: look again
    return None


def _matches(text: str, wanted: str | re.Pattern[str] | None) -> bool:
    if wanted is None:
        return True
    if isinstance(wanted, re.Pattern):
        return wanted.search(text) is not None
    return wanted.lower() in text.lower()


_FIELD_ERROR_JS = """el => {
  const text = node => (node ? (node.innerText || node.textContent || '') : '')
    .trim().replace(/\\s+/g, ' ');
  const byIds = attr => (el.getAttribute(attr) || '').split(/\\s+/).filter(Boolean)
    .map(id => document.getElementById(id)).filter(Boolean);
  const labels = [...(el.labels || [])];
  const labelledBy = byIds('aria-labelledby');
  const name = (el.getAttribute('aria-label') || labelledBy.map(text).join(' ')
    || labels.map(text).join(' ')).trim();
  const described = byIds('aria-describedby').map(text).filter(Boolean);
  const errormessage = byIds('aria-errormessage').map(text).filter(Boolean);
  return {name, invalid: el.getAttribute('aria-invalid') === 'true' || !el.validity?.valid,
          describedby: described, errormessage, labels: labels.map(text)};
}"""


def do_expect_field_error(ctx: ActionContext) -> None:
    """The field (`target`) has an error message a screen reader gives with it.

    The message must be linked to the field (aria-describedby, aria-errormessage, or inside
    its label) and the field must have a name, so that the message is announced with the
    field it is about; `value` (optional) is text the message must hold.
    """
    _unknown_options(ctx)
    resolved, locator = ctx.element(ctx.step.target)
    info = act_on(ctx, resolved, locator.first, "read",
                lambda: locator.first.evaluate(_FIELD_ERROR_JS, timeout=ctx.timeout_ms))
    wanted = text_pattern(ctx.step.value) if ctx.step.value is not None else None
    label_text = " ".join(info["labels"])
    linked: list[tuple[str, str]] = [("aria-errormessage", t) for t in info["errormessage"]]
    linked += [("aria-describedby", t) for t in info["describedby"]]
    if wanted is not None and label_text and _matches(label_text, wanted) and not linked:
        linked.append(("label", label_text))
    if wanted is not None:
        linked = [(how, text) for how, text in linked if _matches(text, wanted)]
    name = f"expect_field_error {resolved.ref}"
    ctx.data["field_error"] = info
    expected = "an error message linked to the named field" + (
        f", {'matching' if isinstance(wanted, re.Pattern) else 'containing'} {show_text(wanted)}"
        if wanted is not None else "")
    if not info["name"]:
        ctx.check(name, False, expected, "the field has no accessible name",
                  f"{name}: the field has no label, so its error message names no field")
        return
    if not linked:
        ctx.check(name, False, expected,
                  f"field {info['name']!r}: no error message linked (aria-describedby, "
                  "aria-errormessage or label)",
                  f"{name}: the field {info['name']!r} has no error message linked to it "
                  "(aria-describedby, aria-errormessage or its label): a screen reader user "
                  "is not told what is wrong with it")
        return
    how, text = linked[0]
    ctx.check(name, True, expected, f"field {info['name']!r}: {text!r} (by {how})", "")


UX_ACTIONS: dict[str, Callable[[ActionContext], None]] = {
    "task_start": do_task_start,
    "task_end": do_task_end,
    "expect_feedback": do_expect_feedback,
    "expect_field_error": do_expect_field_error,
}
