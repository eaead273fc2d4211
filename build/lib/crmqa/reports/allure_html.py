"""`crmqa report`: the Allure 3 HTML report of a run, as one file that opens from disk.

Allure 3 is a Node tool installed into the repository's node_modules by scripts/setup.sh
(`npm ci`). We run `allure run` with its awesome report as one file, over a copy of
<run>/allure-results, and an allurerc.mjs that carries crmqa's categories, the report's title
and language, the campaign's history file, gates.html as a global attachment, and crmqa's
gate rows as Allure quality gates (crmqa.reports.allure_quality_gate says why `run` and not
`awesome`). The generated page embeds a Google Analytics tag that can only fail offline and
would send a request out of a closed network: it is stripped.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from crmqa.core.errors import CrmqaError
from crmqa.gates import Verdict
from crmqa.reports.allure_extras import allure_config
from crmqa.reports.allure_quality_gate import (
    COPY_RESULTS_SCRIPT,
    NODE_POLYFILL,
    config_module,
    quality_gate_rows,
)
from crmqa.reports.i18n import decision_word, gettext_for
from crmqa.reports.run_folder import (
    ALLURE_REPORT_DIR,
    ALLURE_RESULTS_DIR,
    GATES_PAGE,
    RunFolderError,
    read_run_info,
)

# Where an installed checkout keeps its npm tools: the repository root above the package.
REPO_ROOT = Path(__file__).resolve().parents[2]
ALLURE_ENV = "CRMQA_ALLURE"  # path to Allure 3's cli.js, to use one installed elsewhere
GENERATE_TIMEOUT_S = 600
HISTORY_DIR = ".allure-history"
INSTALL_HINT = (
    "install the npm tools with `bash scripts/setup.sh` (or `npm ci` at the repository root; "
    "Node.js 20 or newer is needed)"
)

_ANALYTICS_TAG = re.compile(
    r"<script[^>]*\bsrc=\"https?://[^\"]*googletagmanager[^\"]*\"[^>]*>\s*</script>\s*"
)
_ANALYTICS_INLINE = re.compile(r"<script>\s*window\.dataLayer[\s\S]*?</script>\s*")
_EMBEDDED_FILE = re.compile(r"d\(\"([^\"]+)\",\"([A-Za-z0-9+/=]*)\"\)")


class ReportToolMissing(CrmqaError):
    """Node.js or Allure 3 is not installed where crmqa looks for it."""


class ReportGenerationFailed(CrmqaError):
    """Allure ran but did not produce a report."""


def find_allure_cli(start: Path | None = None) -> Path | None:
    """Allure 3's cli.js: $CRMQA_ALLURE, else node_modules/allure in the repository, the
    current folder or a folder above `start`."""
    override = os.environ.get(ALLURE_ENV)
    if override:
        return Path(override) if Path(override).is_file() else None
    folders = [REPO_ROOT, Path.cwd()]
    if start is not None:
        folders += list(start.resolve().parents)
    for folder in folders:
        candidate = folder / "node_modules" / "allure" / "cli.js"
        if candidate.is_file():
            return candidate
    return None


def _tool_command(run_dir: Path) -> list[str]:
    node = shutil.which("node")
    if node is None:
        raise ReportToolMissing(f"Node.js (`node`) is not on PATH: {INSTALL_HINT}")
    cli = find_allure_cli(run_dir)
    if cli is None:
        where = os.environ.get(ALLURE_ENV) or f"{REPO_ROOT / 'node_modules'}"
        raise ReportToolMissing(f"Allure 3 is not installed (looked in {where}): {INSTALL_HINT}")
    return [node, str(cli)]


def strip_analytics(html: str) -> str:
    """Remove the analytics script Allure embeds (it calls out to the internet)."""
    return _ANALYTICS_INLINE.sub("", _ANALYTICS_TAG.sub("", html))


def read_single_file_report(index_html: Path) -> dict[str, str]:
    """The files embedded in a single-file Allure 3 report, name -> decoded text.

    Handy to check what a report holds without a browser (test names, categories).
    """
    html = index_html.read_text(encoding="utf-8")
    return {
        name: base64.b64decode(payload).decode("utf-8", errors="replace")
        for name, payload in _EMBEDDED_FILE.findall(html)
    }


def campaign_history_path(run_dir: Path, plan_id: str, target: str) -> Path:
    """Allure 3's history file of a campaign (plan + target), beside the runs' folders:
    each rendered report adds its run, so trends and per-test history need no copying."""
    def safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", text) or "_"

    return run_dir.parent / HISTORY_DIR / f"{safe(plan_id)}--{safe(target)}.jsonl"


def _verdict(run_dir: Path, lang: str) -> tuple[str | None, Verdict | None]:
    """The verdict's headline in the run's language, and the verdict, from verdict.json."""
    try:
        data = json.loads((run_dir / "verdict.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    try:
        verdict = Verdict.model_validate(data)
    except ValueError:  # not crmqa's verdict.json (written by hand): its headline as it is
        headline = data.get("headline") if isinstance(data, dict) else None
        return (str(headline) if headline is not None else None), None
    return decision_word(verdict, gettext_for(lang)), verdict


def _node_options() -> str:
    """NODE_OPTIONS with the polyfill Allure's quality gate needs on Node 20 (see
    crmqa.reports.allure_quality_gate); options the user set are kept."""
    own = f'--require "{NODE_POLYFILL}"'
    existing = os.environ.get("NODE_OPTIONS", "").strip()
    return f"{existing} {own}" if existing else own


def render_allure_html(run_dir: Path) -> Path:
    """Render <run>/allure-report/index.html from <run>/allure-results; return its path.

    Raises `ReportToolMissing` (with how to install) when Node.js or Allure 3 is missing,
    `RunFolderError` when the run has no Allure results, and `ReportGenerationFailed` with
    Allure's own message when generation fails.
    """
    run_dir = Path(run_dir)
    run_info = read_run_info(run_dir)
    results = run_dir / ALLURE_RESULTS_DIR
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise RunFolderError(
            f"{results} holds no Allure results: the run was made without allure-pytest "
            "(crmqa run writes them; with plain pytest add --alluredir)"
        )
    command = _tool_command(run_dir)
    output = run_dir / ALLURE_REPORT_DIR
    history = campaign_history_path(run_dir, run_info.plan_id, run_info.target)
    history.parent.mkdir(parents=True, exist_ok=True)
    index = output / "index.html"
    index.unlink(missing_ok=True)  # a report left from an earlier rendering is no proof
    headline, verdict = _verdict(run_dir, run_info.lang)
    with tempfile.TemporaryDirectory(prefix="crmqa-allure-") as scratch:
        config = allure_config(
            run_info, headline=headline, history_path=history.resolve(),
            global_attachments=[(run_dir / GATES_PAGE).resolve()]
            if (run_dir / GATES_PAGE).is_file() else [])
        config["plugins"] = {"awesome": {"options": {
            "singleFile": True, "reportLanguage": run_info.lang}}}
        config_file = Path(scratch) / "allurerc.mjs"
        config_file.write_text(config_module(
            config, quality_gate_rows(verdict, run_info.lang) if verdict else []),
            encoding="utf-8")
        watched = Path(scratch) / "allure-results"
        command += [
            "run", "--config", str(config_file), "--output", str(output.resolve()),
            "--results-dir", str(watched), "--silent", "--",
            command[0], "-e", COPY_RESULTS_SCRIPT, str(results.resolve()), str(watched),
        ]
        try:
            completed = subprocess.run(
                command, cwd=scratch, capture_output=True, text=True,
                timeout=GENERATE_TIMEOUT_S, check=False,
                # No colour codes in messages we may show; no update checks or telemetry.
                env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0",
                     "NODE_OPTIONS": _node_options()},
            )
        except subprocess.TimeoutExpired:
            raise ReportGenerationFailed(
                f"Allure did not finish within {GENERATE_TIMEOUT_S} s for {results}"
            ) from None
        except OSError as error:
            raise ReportToolMissing(f"cannot run Allure ({error}): {INSTALL_HINT}") from None
    # `allure run` exits 1 when a quality gate failed, a report written all the same
    if completed.returncode not in (0, 1) or not index.is_file():
        tail = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-8:])
        raise ReportGenerationFailed(
            f"Allure could not render {results} (exit code {completed.returncode}):\n{tail}"
        )
    index.write_text(strip_analytics(index.read_text(encoding="utf-8")), encoding="utf-8")
    return index
