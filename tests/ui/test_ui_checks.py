"""Every UI check records what the page showed, passed or failed (real Chromium, small pages).

`expected` says what the step asked for, `actual` what was there: a text, a count, a URL, a
value, a state; never the expected value copied over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from crmqa.core.results import CheckResult, Outcome
from crmqa.drivers.ui.actions import find_axe
from crmqa.drivers.ui.driver import UiDriver
from crmqa.drivers.ui.options import UiOptions
from crmqa.drivers.ui.targets import UiTarget
from crmqa.engine.engine import Engine
from crmqa.engine.reporter import RecordingReporter
from crmqa.plan.loader import load_plan
from crmqa.plan.models import UiStep
from crmqa.profiles.screens import ScreenMap
from tests.ui.conftest import CaseContext, FolderEvidence

PAGE = """<!doctype html><html lang="en"><head><title>Checks</title></head><body><main>
<h1 data-testid="title">Hello Zoë</h1>
<p data-testid="gone" hidden>not shown</p>
<ul><li class="item">first</li><li class="item">second</li></ul>
<label>Name <input name="name" value="Ann"></label>
<a href="/leads.csv" data-testid="download">Download CSV</a>
<img data-testid="picture" src="/nothing.png">
</main></body></html>"""
CSV = "first_name,last_name\nZoë,Ångström\n"

SCREENS = ScreenMap.model_validate({
    "page": {"url": "/page", "elements": {
        "title": "testid=title", "gone": "testid=gone", "items": "css=li.item",
        "name": "label=Name", "missing": "testid=nothing-here", "download": "testid=download",
        "picture": "testid=picture",
    }},
    "other": {"url": "/other"},
    "slow": {"url": "/slow", "elements": {"save": "css=button"}},
    "saved": {"url": "/saved"},
    "ask": {"url": "/ask", "elements": {"ask": "css=button"}},
})
SLOW = """<!doctype html><html lang="en"><head><title>Slow</title></head><body><main>
<h1>A page that takes its time</h1><form method="post" action="/saved">
<button>Save</button></form><div role="status">Saved</div></main></body></html>"""
# A button that asks the server (GET /status) and says the answer in a live region.
ASK = """<!doctype html><html lang="en"><head><title>Ask</title></head><body><main>
<h1>Ask</h1><button>Ask</button><div role="status"></div><script>
document.querySelector('button').onclick = async () => {
  const answer = await fetch('/status');
  document.querySelector('[role=status]').textContent = await answer.text(); };
</script></main></body></html>"""
# path -> how long its next answers wait (seconds, in turn; then none), and what was asked
DELAYS: dict[str, list[float]] = {}
ASKED: list[str] = []


class _Pages(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()

    def do_GET(self) -> None:
        ASKED.append(f"{self.command} {self.path}")
        waits = DELAYS.get(self.path)
        if waits:
            time.sleep(waits.pop(0))
        if self.path in ("/slow", "/saved", "/ask"):
            page = ASK if self.path == "/ask" else SLOW
            body, kind, extra = page.encode(), "text/html; charset=utf-8", {}
        elif self.path == "/status":
            body, kind, extra = b"Done", "text/plain", {}
        elif self.path == "/leads.csv":
            body, kind = CSV.encode(), "text/csv; charset=utf-8"
            extra = {"Content-Disposition": 'attachment; filename="leads.csv"'}
        elif self.path == "/page":
            body, kind, extra = PAGE.encode(), "text/html; charset=utf-8", {}
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def page_driver() -> Iterator[UiDriver]:
    """A UI driver on a one-page site with no login, served on 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    target = UiTarget(base_url=f"http://127.0.0.1:{server.server_address[1]}", screens=SCREENS,
                      credentials=lambda identity: ("", ""), name="pages")
    driver = UiDriver(target, UiOptions(timeout_s=2.0, trace="off"))
    yield driver
    driver.close()
    server.shutdown()
    server.server_close()


def _check(driver: UiDriver, tmp_path: Path, step: dict[str, Any]) -> CheckResult:
    """Open the page, run `step`, and return its one check."""
    context = CaseContext(case_id=f"CHECK-{tmp_path.name}", evidence=FolderEvidence(tmp_path))
    driver.run(UiStep(ui="open", target="page"), context)
    output = driver.run(UiStep.model_validate(step), context)
    [check] = output.checks
    return check


FAST = {"timeout_s": 0.5}  # a failing check waits this long

CASES = [
    # step, ok, expected, actual, words of the message
    ({"ui": "expect_text", "target": "page.title", "value": "Hello"},
     True, 'contains "Hello"', "Hello Zoë", ""),
    ({"ui": "expect_text", "target": "page.title", "value": "/^hello z/i"},
     True, "matches /^hello z/i", "Hello Zoë", ""),
    ({"ui": "expect_text", "target": "page.title", "value": "Goodbye", **FAST},
     False, 'contains "Goodbye"', "Hello Zoë",
     "expected text \"Goodbye\" in element \"title\" of screen \"page\" (locator testid=title), "
     "but found 'Hello Zoë' after 0.5 s"),
    ({"ui": "expect_text", "target": "page.missing", "value": "x", **FAST},
     False, 'contains "x"', None, "but no element matched within 0.5 s"),
    ({"ui": "expect_visible", "target": "page.title"}, True, "visible", "visible", ""),
    ({"ui": "expect_visible", "target": "page.gone", **FAST},
     False, "visible", "hidden", "is not visible after 0.5 s (matched, but hidden)"),
    ({"ui": "expect_visible", "target": "page.missing", **FAST},
     False, "visible", "no element matched", "(no element matched)"),
    ({"ui": "expect_hidden", "target": "page.gone"}, True, "hidden", "hidden", ""),
    ({"ui": "expect_hidden", "target": "page.missing"}, True, "hidden", "no element matched", ""),
    ({"ui": "expect_hidden", "target": "page.title", **FAST},
     False, "hidden", "visible", "is still visible after 0.5 s: ['Hello Zoë']"),
    ({"ui": "expect_count", "target": "page.items", "value": 2}, True, 2, 2, ""),
    ({"ui": "expect_count", "target": "page.items", "value": 3, **FAST},
     False, 3, 2, "expected 3 element(s) matching element \"items\" of screen \"page\" "
     "(locator css=li.item), found 2 after 0.5 s"),
    ({"ui": "expect_url", "target": "page"}, True, 'screen "page" (/page)', "/page", ""),
    ({"ui": "expect_url", "value": "/pa"}, True, 'URL containing "/pa"', "/page", ""),
    ({"ui": "expect_url", "target": "other", **FAST},
     False, 'screen "other" (/other)', "/page", "expected screen \"other\" (/other), the page "
     "is at http://"),
    ({"ui": "expect_url", "value": "/^.*\\/other$/", **FAST},
     False, "URL matching /^.*\\/other$/", "/page", "after 0.5 s"),
    ({"ui": "expect_value", "target": "page.name", "value": "Ann"}, True, "Ann", "Ann", ""),
    ({"ui": "expect_value", "target": "page.name", "value": "/^a/i"},
     True, "matches /^a/i", "Ann", ""),
    ({"ui": "expect_value", "target": "page.name", "value": "Bob", **FAST},
     False, "Bob", "Ann", "expected value \"Bob\" in element \"name\" of screen \"page\" "
     "(locator label=Name), found 'Ann' after 0.5 s"),
    ({"ui": "download", "target": "page.download", "value": "Ångström"},
     True, 'contains "Ångström"', CSV, ""),
    ({"ui": "download", "target": "page.download", "value": "Smith"},
     False, 'contains "Smith"', CSV, "the downloaded file leads.csv does not contain \"Smith\""),
    ({"ui": "wait_for", "target": "page.gone", "value": "visible", **FAST},
     False, "visible", "hidden", "did not become visible within 0.5 s (it is hidden)"),
    ({"ui": "wait_for", "target": "other", **FAST},
     False, 'screen "other"', "/page", "the page did not reach screen 'other' within 0.5 s"),
    ({"ui": "click", "target": "page.missing", **FAST},
     False, "one element matching testid=nothing-here, clicked", "no element matched",
     "no element matched element \"missing\" of screen \"page\" (locator "
     "testid=nothing-here) within 0.5 s"),
    ({"ui": "click", "target": "page.items", **FAST},
     False, "one element matching css=li.item, clicked", "2 elements matched",
     "2 elements matched"),
]


@pytest.mark.parametrize(("step", "ok", "expected", "actual", "words"), CASES,
                         ids=[f"{c[0]['ui']}-{'pass' if c[1] else 'fail'}-{n}"
                              for n, c in enumerate(CASES)])
def test_a_ui_check_records_what_the_page_showed(page_driver: UiDriver, tmp_path: Path,
                                                 step: dict[str, Any], ok: bool, expected: Any,
                                                 actual: Any, words: str) -> None:
    check = _check(page_driver, tmp_path, step)
    assert check.ok is ok, check.message
    assert check.expected == expected
    if isinstance(actual, str) and actual.startswith("/") and step["ui"] in (
            "expect_url", "wait_for"):
        assert isinstance(check.actual, str) and check.actual.endswith(actual)  # the page's URL
    else:
        assert check.actual == actual
    if ok:
        assert check.message == ""
    else:
        assert words in check.message


@pytest.mark.skipif(find_axe() is None, reason="axe-core is not installed (npm ci)")
def test_accessibility_records_the_violations_it_found(page_driver: UiDriver,
                                                       tmp_path: Path) -> None:
    clean = _check(page_driver, tmp_path, {"ui": "accessibility", "target": "page.title"})
    assert (clean.ok, clean.expected, clean.actual) == (
        True, "no violations of impact serious or worse", [])
    bad = _check(page_driver, tmp_path, {"ui": "accessibility", "target": "page.picture"})
    assert not bad.ok
    assert bad.expected == "no violations of impact serious or worse"
    assert bad.actual and bad.actual[0].startswith("image-alt (critical)")
    assert "image-alt" in bad.message


# ------------------------------------------------ UX timings that missed a budget, measured again

# Budgets with room for a loaded test machine, and a slow answer well over them.
TIMED = {"load_ms": 800, "lcp_ms": 800, "time_s": 1.0}
SLOW_S = 1.2
ROOM = {"timeout_s": 5}  # the slow answers well within each step's time bound


def _timed_case(driver: UiDriver, tmp_path: Path, *steps: dict[str, Any]) -> dict[str, Any]:
    """Run `steps` as one case; every check by name, with what the server was asked."""
    context = CaseContext(case_id=f"TIMED-{tmp_path.name}", evidence=FolderEvidence(tmp_path))
    ASKED.clear()
    try:
        checks = {check.name: check for step in steps
                  for check in driver.run(UiStep.model_validate(step), context).checks}
    finally:
        driver.end_case()
    DELAYS.clear()
    return checks


def _asked(what: str) -> int:
    return ASKED.count(what)


TASK = ({"ui": "task_start", "value": "timed"}, {"ui": "open", "target": "slow", **ROOM},
        {"ui": "task_end", "values": TIMED, **ROOM})


def test_a_task_slow_once_is_measured_again_and_judged_by_the_median(page_driver: UiDriver,
                                                                     tmp_path: Path) -> None:
    DELAYS["/slow"] = [SLOW_S]  # the first load only: a busy test machine, not a slow CRM
    checks = _timed_case(page_driver, tmp_path, *TASK)
    for metric in TIMED:
        check = checks[f"task timed: {metric}"]
        assert check.ok and check.actual < TIMED[metric], check
    # the page loaded again twice for its timings, and the task (it only reads) done twice
    assert _asked("GET /slow") == 5


def test_a_task_slow_every_time_fails_with_all_its_samples(page_driver: UiDriver,
                                                           tmp_path: Path) -> None:
    DELAYS["/slow"] = [SLOW_S] * 5
    checks = _timed_case(page_driver, tmp_path, *TASK)
    lcp, time_s = checks["task timed: lcp_ms"], checks["task timed: time_s"]
    assert not lcp.ok and lcp.actual >= 1200
    assert "is over the budget of 800ms on slow (the median of 3 tries: " in lcp.message
    assert not time_s.ok and time_s.actual >= 1.2
    assert "is over the budget of 1.0s (the median of 3 tries: " in time_s.message
    assert time_s.message.endswith(" s)")
    assert _asked("GET /slow") == 5


@pytest.mark.parametrize("slow", [1, 3], ids=["slow-once", "slow-every-time"])
def test_late_feedback_after_a_change_that_writes_nothing_is_timed_again(
        page_driver: UiDriver, tmp_path: Path, slow: int) -> None:
    DELAYS["/status"] = [SLOW_S] * slow
    checks = _timed_case(page_driver, tmp_path, {"ui": "open", "target": "ask", **ROOM},
                         {"ui": "click", "target": "ask.ask", **ROOM},
                         {"ui": "expect_feedback", "values": {"within_s": 1.0}})
    check = checks["expect_feedback after click ask.ask"]
    assert check.ok is (slow == 1), check
    assert "(the median of 3 tries: " in (check.message or check.actual)
    # the page opened and the button clicked again, twice
    assert (_asked("GET /ask"), _asked("GET /status")) == (3, 3)


def test_timings_of_a_task_that_writes_are_not_taken_by_writing_again(page_driver: UiDriver,
                                                                       tmp_path: Path) -> None:
    DELAYS["/saved"] = [SLOW_S]
    checks = _timed_case(page_driver, tmp_path, {"ui": "task_start", "value": "timed"},
                         {"ui": "open", "target": "slow"}, {"ui": "click", "target": "slow.save"},
                         {"ui": "expect_feedback", "values": {"within_s": 1.0}},
                         {"ui": "expect_url", "target": "saved", **ROOM},
                         {"ui": "task_end", "values": TIMED, **ROOM})
    feedback = checks["expect_feedback after click slow.save"]
    assert not feedback.ok
    assert "(measured once: 'click slow.save' may change records)" in feedback.message
    lcp, time_s = checks["task timed: lcp_ms"], checks["task timed: time_s"]
    assert not lcp.ok and lcp.actual >= 1200
    assert "on saved (measured once: its page answered a form (POST)" in lcp.message
    assert not time_s.ok
    assert "(measured once: its step 'click slow.save' may change records)" in time_s.message
    # nothing sent again, nothing loaded again
    assert [asked for asked in ASKED if "/favicon" not in asked] == ["GET /slow", "POST /saved"]


PAGES_PROFILE = """
name: pages
screens:
  slow: {url: /slow, elements: {save: css=button}}
"""
OPEN_PLAN = """
id: open-timed
name: Open, timed
system: {name: Pages}
target: t
targets:
  t: {profile: pages.yaml, base_url: "%s", destructive_ok: true}
cases:
  - id: OPEN
    title: the slow page opens within 800 ms
    steps:
      - {ui: open, target: slow, timeout_s: 5, expect: {max_ms: 800}}
  - id: SAVE
    title: the slow page saves within 800 ms
    steps:
      - {ui: open, target: slow, timeout_s: 5}
      - {ui: click, target: slow.save, timeout_s: 5, expect: {max_ms: 800}}
"""


def test_a_ui_open_over_its_max_ms_is_opened_again_and_a_click_is_not(
        page_driver: UiDriver, tmp_path: Path) -> None:
    """`expect.max_ms` on a UI step (judged by the engine): an `open` is timed again, as a
    read is; an action is timed once."""
    base_url = page_driver._ui_target(None).base_url
    (tmp_path / "pages.yaml").write_text(PAGES_PROFILE, encoding="utf-8")
    (tmp_path / "plan.yaml").write_text(OPEN_PLAN % base_url, encoding="utf-8")
    loaded = load_plan(tmp_path / "plan.yaml")
    engine = Engine(loaded, None, tmp_path / "run", "gw-t", RecordingReporter())
    ASKED.clear()
    DELAYS["/slow"] = [SLOW_S, SLOW_S, SLOW_S]
    try:
        opened = engine.run_case(loaded.cases[0], {})
        DELAYS["/saved"] = [SLOW_S]
        saved = engine.run_case(loaded.cases[1], {})
    finally:
        engine.close()
        DELAYS.clear()
    assert opened.outcome is Outcome.FAILED
    assert "(the median of 3 tries: " in opened.message, opened.message
    assert saved.outcome is Outcome.FAILED
    assert "expected <= 800 ms" in saved.message and "median" not in saved.message
    assert [a for a in ASKED if "favicon" not in a] == ["GET /slow"] * 4 + ["POST /saved"]
