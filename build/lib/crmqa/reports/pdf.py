"""HTML pages printed to PDF by Chromium through Playwright (Debian's /usr/bin/chromium).

Playwright is started here and only here for printing; the UI driver's browser is not reused,
because reports do not depend on drivers. `CHROMIUM_PATH` names another Chromium binary.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from crmqa.core.errors import CrmqaError

DEFAULT_CHROMIUM = "/usr/bin/chromium"
# Quiet on a closed network (no update or sync calls) and working as root in containers.
_PRINT_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)


class PdfPrintingFailed(CrmqaError):
    """Chromium could not be started or could not print a page."""

    exit_code = 4


def print_pdfs(pages: Sequence[Path]) -> list[Path]:
    """Print each HTML page to a PDF next to it (same name, .pdf); return the PDFs."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("CHROMIUM_PATH", DEFAULT_CHROMIUM)
    written = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable,
                                                 args=list(_PRINT_ARGS))
            try:
                page = browser.new_page()
                for html in pages:
                    pdf = html.with_suffix(".pdf")
                    page.goto(html.resolve().as_uri(), wait_until="load")
                    page.pdf(path=str(pdf), format="A4", print_background=True,
                             margin={"top": "14mm", "bottom": "14mm", "left": "12mm",
                                     "right": "12mm"})
                    written.append(pdf)
            finally:
                browser.close()
    except PlaywrightError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise PdfPrintingFailed(
            f"cannot print PDFs with Chromium at {executable}: {first} (set CHROMIUM_PATH, or "
            "leave out --pdf)"
        ) from None
    return written
