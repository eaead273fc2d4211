"""The UI driver: runs `ui:` steps in a real browser, on the target profile's screen maps.

One `UiDriver` per target and worker. The browser starts on the first UI step and closes in
`close()`. Each identity logs in through the UI once per worker; each case gets a fresh
browser context built from that stored session. When a step fails, the driver attaches a
screenshot, the page URL and the Playwright trace so far (and the video, when recorded).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

from crmqa.core.errors import EnvironmentProblem
from crmqa.core.events import DriverCall, emit
from crmqa.core.results import Attachment, CheckResult
from crmqa.drivers.base import StepContext, StepOutput
from crmqa.drivers.ui.actions import ActionContext, ActionFailed, url_info
from crmqa.drivers.ui.browser import BrowserSession, join_url
from crmqa.drivers.ui.created import CreateWatch, Creation, forged_creations
from crmqa.drivers.ui.locators import build_locator
from crmqa.drivers.ui.options import UiOptions, UiOptionsError
from crmqa.drivers.ui.targets import (
    UiStepError,
    UiTarget,
    resolve,
    ui_target,
)
from crmqa.drivers.ui.ux import UxState, perform, step_label
from crmqa.drivers.ui.ux_timing import note_document
from crmqa.plan.models import UiStep
from crmqa.profiles.screens import ELEMENT_REF, ScreenMap

if TYPE_CHECKING:
    from crmqa.drivers.registry import DriverEnvironment


@dataclass
class _CaseBrowser:
    """The browser contexts of the case being run (one per identity it acts as)."""

    owner: weakref.ref[Any]  # the engine's per-case-run context
    case_id: str
    pages: dict[str, tuple[BrowserContext, Page]] = field(default_factory=dict)
    watches: dict[str, CreateWatch] = field(default_factory=dict)  # identity -> its page's
    failed: bool = False
    files: int = 0  # numbering evidence files keeps names unique within the case
    # The case's own evidence folder: its contexts close only when the next case starts (or
    # the driver closes), and a trace kept then still belongs to this case.
    evidence: Any = None
    ux: UxState = field(default_factory=UxState)  # the task measured, the last change


class UiDriver:
    """Runs `UiStep`s (see crmqa.plan.models.UiStep) through Playwright."""

    name = "ui"

    def __init__(
        self, target: Any, options: UiOptions | None = None, *, base_dir: Path | None = None
    ) -> None:
        self._target_source = target
        self._target: UiTarget | None = None
        self.options = options or UiOptions.from_env()
        self.base_dir = base_dir  # relative upload paths start here (the plan's folder)
        self._session = BrowserSession(self.options)
        self._case: _CaseBrowser | None = None
        self._cleanup_pages: dict[str, tuple[BrowserContext, Page]] = {}
        self.options_problem: str | None = None  # a bad CRMQA_* setting, reported per step

    # ------------------------------------------------------------------ StepDriver protocol

    def handles(self, step: Any) -> bool:
        return isinstance(step, UiStep)

    def needs(self, step: Any) -> list[str]:
        """`ui`, plus `screen:<name>` for the screen the step's target names."""
        needs = ["ui"]
        target = getattr(step, "target", None) or ""
        head = target.split(" >> ", 1)[0].strip()
        match = ELEMENT_REF.fullmatch(head) if "=" not in head else None
        if match:
            needs.append(f"screen:{match.group(1)}")
        for key in getattr(step, "values", {}) or {}:
            key_match = ELEMENT_REF.fullmatch(key) if "." in key else None
            if key_match:
                needs.append(f"screen:{key_match.group(1)}")
        return list(dict.fromkeys(needs))

    def run(self, step: Any, ctx: StepContext) -> StepOutput:
        """Perform one UI step; a mismatch is a failed check, a plan mistake raises UiStepError."""
        assert isinstance(step, UiStep)
        if self.options_problem is not None:
            raise EnvironmentProblem(f"browser options: {self.options_problem}")
        target = self._ui_target(ctx)
        started = time.time()
        clock = time.perf_counter()
        timeout_s = step.timeout_s or self.options.timeout_s
        label = step_label(step)
        case = self._case_for(ctx)
        identity = step.as_ or target.default_identity
        page = self._page(case, ctx, identity, target, timeout_s)
        watch = case.watches.setdefault(identity, CreateWatch(target.screens))
        _track(ctx, identity, watch.before(
            step, page.url, lambda: _clicks_link(page, step.target, target.screens)))
        action = ActionContext(
            page=page, step=step, screens=target.screens, base_url=target.base_url,
            timeout_s=timeout_s, profile_name=f"the profile of {target.name}",
            save_file=lambda name: self._evidence_path(case, ctx, name),
            base_dir=self.base_dir, ux=case.ux,
        )
        error: str | None = None
        try:
            perform(action)
        except ActionFailed as failure:
            action.checks.append(CheckResult(name=label, ok=False, expected=failure.expected,
                                             actual=failure.actual, message=failure.message))
        except (UiStepError, EnvironmentProblem) as exc:
            error = str(exc)
            raise
        finally:
            duration = (time.perf_counter() - clock) * 1000
            failed = [c for c in action.checks if not c.ok]
            emit(DriverCall(kind="ui", name=label, start=started, duration_ms=duration,
                            ok=error is None and not failed,
                            error=error or (failed[0].message if failed else None)))
            # Also when the step failed or broke: a record the CRM made must be tracked.
            _track(ctx, identity, watch.after(step, page.url, error is None and not failed))
            if step.ui == "expect_csrf_protected" and step.target:
                # a forgery the CRM accepted made what a submitted form would have
                _track(ctx, identity, forged_creations(
                    action.data.get("forged") or [], target.screens,
                    step.target.split(".", 1)[0]))
        data = {**url_info(page, target.screens), **action.data}
        attachments: list[Attachment] = list(action.attachments)
        if action.step.ui == "screenshot" and "screenshot" in action.data:
            attachments.append(Attachment(name="screenshot", mime_type="image/png",
                                          path=action.data["screenshot"]))
        if any(not c.ok for c in action.checks):
            case.failed = True
            attachments += self._failure_evidence(case, ctx, page, label)
        return StepOutput(
            data=data,
            status=data.get("status"),
            elapsed_ms=(time.perf_counter() - clock) * 1000,
            checks=action.checks,
            attachments=attachments,
            summary=f"{label} at {data['url']}",
        )

    def repeats_unchanged(self, step: Any) -> bool:
        """True when doing `step` again measures the same thing and leaves the case as the
        first time did (the engine times such a step again, crmqa.core.timing): opening a
        screen, while no UX task counts the case's loads. An action or an expectation is not:
        the page has moved on since (a text awaited is already there the second time)."""
        case = self._case
        return (isinstance(step, UiStep) and step.ui == "open"
                and (case is None or case.ux.task is None))

    def can_delete(self, entity: str) -> bool:
        """True when the screen map has `<entity>_delete`: a URL with the id, and `confirm`."""
        screens = self._ui_target(None).screens
        name = f"{entity}_delete"
        return (name in screens and bool(screens[name].url_params)
                and "confirm" in screens.elements_of(name))

    def cleanup(self, entity: str, record_id: Any, identity: str) -> None:
        """Delete a record through its `<entity>_delete` screen: open it with the id, confirm.

        A record already gone (the screen answers 404 or 410, or sends the browser elsewhere
        but to the login page) is fine. Runs in a browser
        context of its own, so the case's trace and video show only the case.
        """
        target = self._ui_target(None)
        name = f"{entity}_delete"
        if not self.can_delete(entity):
            raise EnvironmentProblem(f"the profile of {target.name} has no {name} screen with "
                                     "an id in its URL and a `confirm` element")
        screen = target.screens[name]
        path = screen.url or ""
        for param in screen.url_params:
            path = path.replace("{" + param + "}", quote(str(record_id), safe=""))
        url = join_url(target.base_url, path)
        timeout_ms = self.options.timeout_s * 1000
        started, clock = time.time(), time.perf_counter()
        error: str | None = None
        try:
            page = self._cleanup_page(identity, target)
            error = _delete_on(page, url, name, target.screens, timeout_ms)
        except PlaywrightError as exc:
            error = f"the browser failed at {url}: {str(exc).splitlines()[0]}"
        finally:
            emit(DriverCall(kind="ui", name=f"delete {entity}", start=started,
                            duration_ms=(time.perf_counter() - clock) * 1000,
                            ok=error is None, error=error))
        if error is not None:
            raise EnvironmentProblem(error)

    def end_case(self) -> None:
        """Close the current case's browser contexts (the engine may call this after a case)."""
        case, self._case = self._case, None
        if case is not None:
            self._close_case(case)

    def close(self) -> None:
        """Close the case contexts and the browser; safe to call more than once."""
        self.end_case()
        pages, self._cleanup_pages = self._cleanup_pages, {}
        for context, _page in pages.values():
            with contextlib.suppress(PlaywrightError):
                context.close()
        self._session.close()

    # ------------------------------------------------------------------ internals

    def _ui_target(self, ctx: StepContext | None) -> UiTarget:
        if self._target is None:
            source = self._target_source
            if source is None and ctx is not None:
                source = ctx.target
            if source is None:
                raise EnvironmentProblem("the UI driver was given no target")
            self._target = ui_target(source)
        return self._target

    def _cleanup_page(self, identity: str, target: UiTarget) -> Page:
        """A page of its own for deleting records, logged in as `identity`; kept open."""
        found = self._cleanup_pages.get(identity)
        if found is not None and not found[1].is_closed():
            return found[1]
        storage = self._session.storage_for(identity, target.base_url, target.screens,
                                            target.credentials, max(self.options.timeout_s, 10.0))
        context = self._session.new_context(storage)
        try:
            page = context.new_page()
        except PlaywrightError:
            context.close()
            raise
        self._cleanup_pages[identity] = (context, page)
        return page

    def _case_for(self, ctx: StepContext) -> _CaseBrowser:
        # A new case (or a new run of a parametrised case) gets fresh contexts. The engine
        # passes one context object per case run, so that object tells the runs apart; a weak
        # reference, because a plain id() can be reused once the previous case's context is gone.
        if self._case is not None and self._case.owner() is not ctx:
            self.end_case()
        if self._case is None:
            self._case = _CaseBrowser(owner=weakref.ref(ctx), case_id=ctx.case_id,
                                      evidence=getattr(ctx, "evidence", None))
        return self._case

    def _page(self, case: _CaseBrowser, ctx: StepContext, identity: str, target: UiTarget,
              timeout_s: float) -> Page:
        if identity in case.pages:
            return case.pages[identity][1]
        # Logging in may take longer than one short step bound on a cold CRM: allow at least 10 s.
        storage = self._session.storage_for(
            identity, target.base_url, target.screens, target.credentials, max(timeout_s, 10.0)
        )
        video_dir = self._evidence_dir(ctx, "video") if self.options.video else None
        context = self._session.new_context(storage, video_dir)
        if self.options.trace != "off":
            context.tracing.start(screenshots=True, snapshots=True, title=ctx.case_id)
        try:
            page = context.new_page()
        except PlaywrightError as exc:
            context.close()
            missing = re.search(r"Executable doesn't exist at (\S*ffmpeg\S*)", str(exc))
            if missing:
                # Playwright's own hint says to download it; this project never downloads.
                raise EnvironmentProblem(
                    f"video recording needs Playwright's ffmpeg at {missing.group(1)}: link "
                    "Debian's ffmpeg there (see docs/ui.md), or run without --video "
                    "(pytest: --crmqa-video; env CRMQA_VIDEO)"
                ) from None
            raise EnvironmentProblem(f"could not open a page: {str(exc).splitlines()[0]}") from None
        # Which request fetched each document: a task's page timings are measured again only
        # for a page a GET fetched (crmqa.drivers.ui.ux_timing).
        documents = case.ux.documents
        page.on("request", lambda request: note_document(documents, page, request))
        case.pages[identity] = (context, page)
        return page

    def _close_case(self, case: _CaseBrowser) -> None:
        for identity, (context, _page) in case.pages.items():
            try:
                if self.options.trace == "on" and case.evidence is not None:
                    name = f"{_safe(case.case_id)}-{identity}-trace.zip"
                    context.tracing.stop(path=self._plain_evidence_path(name, case.evidence))
                elif self.options.trace != "off":
                    context.tracing.stop()
                context.close()
            except PlaywrightError:
                pass  # the browser may already be gone; nothing left to keep

    def _failure_evidence(self, case: _CaseBrowser, ctx: StepContext, page: Page,
                          label: str) -> list[Attachment]:
        """Screenshot, URL and the trace so far: what a reader needs to see the failure."""
        attachments = [Attachment(name="page URL", text=page.url)]
        try:
            shot = self._evidence_path(case, ctx, "failure.png")
            page.screenshot(path=str(shot), full_page=True, timeout=5000)
            attachments.insert(0, Attachment(name=f"screenshot: {label}", mime_type="image/png",
                                             path=str(shot)))
        except PlaywrightError as exc:
            attachments.append(Attachment(name="screenshot failed", text=str(exc).splitlines()[0]))
        if self.options.trace != "off":
            for identity, (context, open_page) in case.pages.items():
                if open_page is not page:
                    continue
                trace = self._evidence_path(case, ctx, f"{identity}-trace.zip")
                try:
                    context.tracing.stop_chunk(path=str(trace))
                    context.tracing.start_chunk(title=ctx.case_id)
                    attachments.append(Attachment(name="playwright trace",
                                                  mime_type="application/zip", path=str(trace)))
                except PlaywrightError:
                    pass  # a closed context has no trace to give
        if self.options.video and page.video is not None:
            with contextlib.suppress(PlaywrightError):
                attachments.append(Attachment(name="video", mime_type="video/webm",
                                              path=str(page.video.path())))
        return attachments

    def _evidence_path(self, case: _CaseBrowser, ctx: StepContext, name: str) -> Path:
        case.files += 1
        name = f"{_safe(case.case_id)}-{case.files:02d}-{name}"
        return self._plain_evidence_path(name, getattr(ctx, "evidence", None))

    def _plain_evidence_path(self, name: str, evidence: Any) -> Path:
        if evidence is None:
            raise EnvironmentProblem("the UI driver has nowhere to keep evidence files")
        path = Path(evidence.path_for(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _evidence_dir(self, ctx: StepContext, name: str) -> Path:
        path = self._plain_evidence_path(name, getattr(ctx, "evidence", None))
        path.mkdir(parents=True, exist_ok=True)
        return path


def _track(ctx: StepContext, identity: str, made: list[Creation]) -> None:
    for creation in made:
        # The values too when the id is known: a record left over is then easy to find.
        ctx.track_created(creation.entity, creation.record_id, identity, values=creation.values)


# True when a click on the element follows a plain link rather than submitting a form.
_IS_LINK = ("el => { const a = el.closest('a[href]');"
            " return !!a && a.getAttribute('role') !== 'button' && !el.closest('button'); }")


def _clicks_link(page: Page, target: str | None, screens: ScreenMap) -> bool:
    if not target:
        return False
    try:
        spec = resolve(target, screens).spec
        if spec is None:
            return False
        return bool(build_locator(page, spec).first.evaluate(_IS_LINK, timeout=1000))
    except (UiStepError, PlaywrightError):
        return False  # not there (yet): the click itself will say so


def _delete_on(page: Page, url: str, screen: str, screens: ScreenMap,
               timeout_ms: float) -> str | None:
    """Open a delete screen and confirm; None when done (or already gone), else the reason."""
    response = page.goto(url, timeout=timeout_ms)
    status = response.status if response is not None else None
    if status in (404, 410):
        return None
    if status is not None and status >= 400:
        return f"opening {url} answered HTTP {status}"
    if _off_screen(screens, screen)(page.url):
        # Sent elsewhere: some CRMs answer a record that is not there with a redirect (Django's
        # admin goes to its index, "... doesn't exist. Perhaps it was deleted?"), not a 404.
        # To the login page, though, is a lost session, not a deleted record.
        if "login" in screens and _on_login(screens)(page.url):
            return f"opening {url} went to the login page ({page.url})"
        return None
    confirm = resolve(f"{screen}.confirm", screens)
    assert confirm.spec is not None
    try:
        build_locator(page, confirm.spec).first.click(timeout=timeout_ms)
    except PlaywrightError:
        return (f"{confirm.describe()} was not there to click within "
                f"{timeout_ms / 1000:g} s; the page is at {page.url}")
    leaves = _off_screen(screens, screen)
    try:
        page.wait_for_url(leaves, timeout=timeout_ms, wait_until="commit")
    except PlaywrightError:
        return f"after confirming, the page stayed at {page.url}"
    return None


def _on_login(screens: ScreenMap) -> Callable[[str], bool]:
    login_path = (screens.screen("login").url or "").split("?", 1)[0].rstrip("/")

    def shows(url: str) -> bool:
        path = urlsplit(url).path.rstrip("/")
        matched = screens.match_url(urlsplit(url).path)
        return (matched is not None and matched[0] == "login") or path == login_path
    return shows


def _off_screen(screens: ScreenMap, name: str) -> Callable[[str], bool]:
    def leaves(url: str) -> bool:
        matched = screens.match_url(urlsplit(url).path)
        return matched is None or matched[0] != name
    return leaves


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80]


def create_ui_driver(env: DriverEnvironment) -> UiDriver:
    """The registry's factory: one UI driver per engine (target and worker).

    Browser settings come from `env.options["ui"]` (a `UiOptions` the pytest plugin / CLI
    builds from the command line); without it, from the environment, with the trace mode
    following the run's evidence mode.
    """
    given = env.options.get("ui")
    if isinstance(given, UiOptions):
        return UiDriver(env.target, given, base_dir=env.base_dir)
    try:
        options = UiOptions.from_env()
        if not os.environ.get("CRMQA_TRACE"):
            options = options.with_overrides(trace=env.evidence)
    except UiOptionsError as exc:
        # Building must not fail (the engine would read that as "no UI driver installed"):
        # every UI step reports the bad setting instead.
        driver = UiDriver(env.target, UiOptions(), base_dir=env.base_dir)
        driver.options_problem = str(exc)
        return driver
    return UiDriver(env.target, options, base_dir=env.base_dir)
