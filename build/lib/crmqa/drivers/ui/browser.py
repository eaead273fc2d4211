"""One browser per worker: started lazily, logged in once per identity, a fresh context per case.

Playwright's sync API is used because the pytest plugin runs cases synchronously inside
pytest items. The browser is Debian's Chromium through `executable_path` (nothing is
downloaded at run time), or a remote one through Playwright's connect for grids.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from crmqa.core.errors import EnvironmentProblem
from crmqa.drivers.ui.locators import build_locator
from crmqa.drivers.ui.options import CHROMIUM_ARGS, UiOptions
from crmqa.profiles.screens import ScreenMap

# Elements the `login` screen must name, and the optional one that shows a login error.
LOGIN_ELEMENTS = ("username", "password", "submit")


class UiLoginError(EnvironmentProblem):
    """Logging in through the UI did not work (wrong credentials, changed login page)."""


class _SharedPlaywright:
    """One Playwright per process, shared by every session (counted).

    Playwright's sync API runs its own event loop in this thread, and a second
    `sync_playwright().start()` while one is running fails; two UI drivers in one worker (two
    targets, or a test beside a run) must therefore share it.
    """

    instance: Playwright | None = None
    users = 0

    @classmethod
    def acquire(cls) -> Playwright:
        if cls.instance is None:
            cls.instance = sync_playwright().start()
        cls.users += 1
        return cls.instance

    @classmethod
    def release(cls) -> None:
        cls.users = max(0, cls.users - 1)
        if cls.users == 0 and cls.instance is not None:
            instance, cls.instance = cls.instance, None
            instance.stop()


class BrowserSession:
    """Owns Playwright, the browser and the stored logins of one worker."""

    def __init__(self, options: UiOptions) -> None:
        self.options = options
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._storage: dict[str, Any] = {}  # identity -> Playwright storage state

    @property
    def started(self) -> bool:
        return self._browser is not None

    def browser(self) -> Browser:
        """The browser, started (or connected) on first use."""
        if self._browser is not None:
            return self._browser
        options = self.options
        options.check_local_browser()
        self._playwright = _SharedPlaywright.acquire()
        chromium = self._playwright.chromium
        try:
            if options.browser_url is not None:
                if options.browser_url.startswith(("http://", "https://")):
                    # A Chrome DevTools endpoint (e.g. a browser started with
                    # --remote-debugging-port); ws:// is a Playwright browser server.
                    self._browser = chromium.connect_over_cdp(
                        options.browser_url, slow_mo=options.slow_mo_ms or None
                    )
                else:
                    self._browser = chromium.connect(
                        options.browser_url, slow_mo=options.slow_mo_ms or None
                    )
            else:
                self._browser = chromium.launch(
                    executable_path=options.chromium_path,
                    headless=not options.headed,
                    args=[*CHROMIUM_ARGS, *options.extra_args],
                    slow_mo=options.slow_mo_ms or None,
                )
        except PlaywrightError as exc:
            self._stop_playwright()
            where = options.browser_url or options.chromium_path
            raise EnvironmentProblem(
                f"could not start the browser ({where}): {_first_line(exc)}"
            ) from None
        return self._browser

    def new_context(
        self, storage_state: Any = None, video_dir: Path | None = None
    ) -> BrowserContext:
        """A fresh, isolated browser context (cookies, storage), optionally logged in."""
        width, height = self.options.viewport
        kwargs: dict[str, Any] = {
            "viewport": {"width": width, "height": height},
            "accept_downloads": True,
        }
        if storage_state is not None:
            kwargs["storage_state"] = storage_state
        if video_dir is not None:
            kwargs["record_video_dir"] = str(video_dir)
            kwargs["record_video_size"] = {"width": width, "height": height}
        try:
            return self.browser().new_context(**kwargs)
        except PlaywrightError as exc:
            if video_dir is not None and "ffmpeg" in str(exc).lower():
                raise EnvironmentProblem(
                    "video recording needs Playwright's ffmpeg (see docs/ui.md); "
                    "run without --video (pytest: --crmqa-video; env CRMQA_VIDEO)"
                ) from None
            raise EnvironmentProblem(
                f"could not open a browser context: {_first_line(exc)}"
            ) from None

    def storage_for(
        self,
        identity: str,
        base_url: str,
        screens: ScreenMap,
        credentials: Callable[[str], tuple[str, str]],
        timeout_s: float,
    ) -> Any:
        """The stored session of `identity`, logging in through the UI the first time.

        None when the profile has no `login` screen (a UI that needs no login).
        """
        if identity in self._storage:
            return self._storage[identity]
        if "login" not in screens:
            return None
        username, password = credentials(identity)
        context = self.new_context()
        try:
            page = context.new_page()
            _log_in(page, base_url, screens, identity, username, password, timeout_s)
            self._storage[identity] = context.storage_state()
        finally:
            context.close()
        return self._storage[identity]

    def forget_login(self, identity: str) -> None:
        """Drop a stored session (e.g. after the CRM logged it out)."""
        self._storage.pop(identity, None)

    def close(self) -> None:
        """Close the browser and Playwright; safe to call twice."""
        if self._browser is not None:
            # A remote grid may already have dropped it.
            with contextlib.suppress(PlaywrightError):
                self._browser.close()
            self._browser = None
        self._stop_playwright()
        self._storage.clear()

    def _stop_playwright(self) -> None:
        if self._playwright is not None:
            self._playwright = None
            _SharedPlaywright.release()


def _log_in(
    page: Page,
    base_url: str,
    screens: ScreenMap,
    identity: str,
    username: str,
    password: str,
    timeout_s: float,
) -> None:
    login = screens.screen("login")
    elements = screens.elements_of("login")
    missing = [name for name in LOGIN_ELEMENTS if name not in elements]
    if missing or login.url is None:
        raise UiLoginError(
            "the profile's login screen needs a url and the elements "
            + ", ".join(LOGIN_ELEMENTS)
            + (f" (missing: {', '.join(missing)})" if missing else "")
        )
    timeout_ms = timeout_s * 1000
    url = join_url(base_url, login.url)
    try:
        page.goto(url, timeout=timeout_ms)
        build_locator(page, elements["username"].spec).fill(username, timeout=timeout_ms)
        build_locator(page, elements["password"].spec).fill(password, timeout=timeout_ms)
        build_locator(page, elements["submit"].spec).click(timeout=timeout_ms)
        login_path = re.escape(url.split("?", 1)[0])
        left_login = re.compile(rf"^(?!{login_path}(\?|$))")
        page.wait_for_load_state(timeout=timeout_ms)
        # Back on the login page with an error shown: no use waiting for a redirect.
        if not left_login.match(page.url) and "error" in elements:
            error = build_locator(page, elements["error"].spec)
            if error.count() and error.first.is_visible():
                raise PlaywrightError("the login page shows an error")
        # Logged in once the browser has left the login page.
        page.wait_for_url(left_login, timeout=timeout_ms)
    except PlaywrightError as exc:
        hint = ""
        if "error" in elements:
            try:
                shown = build_locator(page, elements["error"].spec).all_inner_texts()
                hint = f"; the page says: {' '.join(t.strip() for t in shown)}" if shown else ""
            except PlaywrightError:
                pass
        # The message names the identity and user, never the password.
        raise UiLoginError(
            f"UI login as '{identity}' (user {username!r}) at {url} failed: "
            f"{_first_line(exc)}{hint}"
        ) from None


def join_url(base_url: str, path: str) -> str:
    """`http://h:1` + `/leads` -> `http://h:1/leads`; full URLs are kept."""
    if path.startswith(("http://", "https://")):
        return path
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # Playwright messages carry a call log after the first line; the first line is the news.
    return text.splitlines()[0] if text else type(exc).__name__
