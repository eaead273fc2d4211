"""A screen's page timings, and taking them again when they alone missed a task's budget.

(A task's time and a feedback time are measured again by doing steps again on a page of
their own: crmqa.drivers.ui.ux, "measured again"; docs/ux.md says which timings are.)

The browser's timings of a page (navigation timing's load, largest contentful paint) are
measured once per screen while a task runs; on a busy test machine one load can be slow for
reasons that are not the CRM's. When only timings failed, `task_end` loads each screen that
was over its budget again and judges it by the median (crmqa.core.timing). A screen is loaded
again only when the document the task saw was fetched with a GET: opening its URL again is
what a user does when they reload it, and changes no records, whatever the task did around it
(a task that saves a lead still has its form and the lead's page measured again). A page that
answered a form (POST) is measured once: a GET of its URL would show another page, and
sending the form again would write.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urldefrag

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Request

# The timings of the page the browser shows (null when the browser has no such entry).
PAGE_TIMINGS_JS = """() => new Promise(resolve => {
  const nav = performance.getEntriesByType('navigation')[0];
  const out = {
    ttfb_ms: nav ? Math.round(nav.responseStart) : null,
    dcl_ms: nav ? Math.round(nav.domContentLoadedEventEnd) : null,
    load_ms: nav ? Math.round(nav.loadEventEnd || nav.domContentLoadedEventEnd) : null,
    lcp_ms: null, cls: null};
  let lcp = null, cls = 0, observed = false, waited = false;
  const done = () => {
    if (observed) { out.lcp_ms = lcp; out.cls = Math.round(cls * 10000) / 10000; }
    resolve(out);
  };
  try {
    new PerformanceObserver(list => { for (const e of list.getEntries())
      lcp = Math.round(e.renderTime || e.startTime);
      if (waited) done(); })
      .observe({type: 'largest-contentful-paint', buffered: true});
    new PerformanceObserver(list => { for (const e of list.getEntries())
      if (!e.hadRecentInput) cls += e.value; })
      .observe({type: 'layout-shift', buffered: true});
    observed = true;
  } catch (e) { /* a browser without these entries: left unmeasured */ }
  // Buffered entries arrive in an observer task that a busy machine may run late: wait for
  // the paint that is there (up to a second), not only the first 60 ms.
  setTimeout(() => { waited = true; if (!observed || lcp !== null) done(); }, 60);
  setTimeout(done, 1000);
})"""

# The task budgets that are a page's timings: measured again screen by screen.
PAGE_TIMINGS = ("load_ms", "lcp_ms")


def document_key(url: str) -> str:
    """A document's URL as documents are told apart (the fragment is not fetched)."""
    return urldefrag(url)[0]


def note_document(documents: dict[str, str], page: Page, request: Request) -> None:
    """Keep the method that fetched each document the page showed (`request` listener)."""
    try:
        if request.is_navigation_request() and request.frame == page.main_frame:
            documents[document_key(request.url)] = request.method
    except PlaywrightError:
        return  # a request with no frame (a service worker's): not a document


@contextlib.contextmanager
def fresh_page(page: Page) -> Iterator[Page]:
    """A page of its own beside `page`, closed afterwards: same session (cookies) and viewport.

    A timing is measured again there, so that `page` stays where the case has it.
    """
    fresh = page.context.new_page()
    try:
        size = page.viewport_size
        if size:
            fresh.set_viewport_size(size)
        yield fresh
    finally:
        with contextlib.suppress(PlaywrightError):
            fresh.close()


def load_again(page: Page, url: str, timeout_ms: float) -> dict[str, Any] | None:
    """The timings of a fresh load of `url` in a page of its own beside `page`; None when
    the load fails or goes elsewhere (the session ended, the record is gone)."""
    try:
        with fresh_page(page) as fresh:
            response = fresh.goto(url, wait_until="load", timeout=timeout_ms)
            if response is None or response.status >= 400 or \
                    document_key(fresh.url) != document_key(url):
                return None
            return dict(fresh.evaluate(PAGE_TIMINGS_JS))
    except PlaywrightError:
        return None


class Reloads:
    """The fresh loads of one screen, shared by every timing one load measures.

    `again(metric)` gives `measure_again` its next sample of `metric`: the load-time and the
    LCP check of a screen read the same loads, so each load is made once.
    """

    def __init__(self, load: Callable[[], dict[str, Any] | None]) -> None:
        self._load = load
        self.loads: list[dict[str, Any] | None] = []

    def again(self, metric: str) -> Callable[[], float | None]:
        taken = itertools.count()  # the n-th sample of any metric reads the n-th load

        def sample() -> float | None:
            index = next(taken)
            while len(self.loads) <= index:
                self.loads.append(self._load())
            timings = self.loads[index]
            value = None if timings is None else timings.get(metric)
            return None if value is None else float(value)

        return sample
