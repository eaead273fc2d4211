"""Files crmqa adds to allure-results/: environment, categories and executor.

crmqa writes one result file per case; these three files give the Allure report its
context (which CRM, which plan, which run) and sort non-passing tests into categories a
manager understands. Categories match on the status message, so the pytest plugin and this
module share one vocabulary: the `STATUS_PREFIXES` below start the reason of every broken or
skipped case ("Environment problem: target timed out").

The same categories feed Allure 3 through an allurerc.json (Allure 3's `awesome` report reads
categories from its config, not from categories.json; Allure 2 and `classic` read the file).
"""

from __future__ import annotations

import glob
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from crmqa.core.results import BrokenKind, RunInfo

# The reason of a broken case starts with one of these (the plugin adds them).
STATUS_PREFIXES: dict[BrokenKind, str] = {
    BrokenKind.ENVIRONMENT: "Environment problem:",
    BrokenKind.TEST_DEFECT: "Test defect:",
    BrokenKind.CRMQA: "crmqa error:",
}
BLOCKED_PREFIX = "Blocked:"
NOT_APPLICABLE_PREFIX = "Not applicable:"
WAIVED_PREFIX = "waived"  # pytest.xfail("waived until 2026-12-31: ...")

# A case's message starts with the exception's type (or "Skipped", "XFAIL"), as allure-pytest
# wrote it and crmqa's writer keeps it:
# "crmqa.pytest_plugin.items.CaseBroken: Environment problem: ...". The regexes allow that
# prefix, and are written so that they mean the same to Allure 2 (Java, whole-message match)
# and Allure 3 (JavaScript, search): anchored at the start, `[\s\S]*` for "anything".
_TYPE_PREFIX = r"^(?:[\w.]+:? )?"


def _message_regex(prefix: str) -> str:
    return _TYPE_PREFIX + prefix.replace(".", r"\.") + r"[\s\S]*"


def allure_categories() -> list[dict[str, Any]]:
    """The categories crmqa sorts Allure results into, first match first."""
    return [
        {
            "name": "Environment problems",
            "description": "The CRM was unreachable, timed out or answered garbage: not a "
            "product defect, but the case could not be judged.",
            "matchedStatuses": ["broken"],
            "messageRegex": _message_regex(STATUS_PREFIXES[BrokenKind.ENVIRONMENT]),
        },
        {
            "name": "Test defects",
            "description": "The plan or a suite is wrong at run time (a bad value, a missing "
            "saved variable): fix the plan.",
            "matchedStatuses": ["broken"],
            "messageRegex": _message_regex(STATUS_PREFIXES[BrokenKind.TEST_DEFECT]),
        },
        {
            "name": "crmqa errors",
            "description": "crmqa itself failed: please report it.",
            "matchedStatuses": ["broken"],
            "messageRegex": _message_regex(STATUS_PREFIXES[BrokenKind.CRMQA]),
        },
        {
            "name": "Waived defects",
            "description": "Known defects accepted until their waiver expires: kept out of the "
            "gates, shown here.",
            "matchedStatuses": ["skipped"],
            "messageRegex": r"^(?:XFAIL )?[Ww]aived[\s\S]*",
        },
        {
            "name": "Blocked cases",
            "description": "A prerequisite failed; the defect is counted once, at the "
            "prerequisite.",
            "matchedStatuses": ["skipped"],
            "messageRegex": _message_regex(BLOCKED_PREFIX),
        },
        {
            "name": "Not applicable",
            "description": "The target lacks a capability the case needs.",
            "matchedStatuses": ["skipped"],
            "messageRegex": _message_regex(NOT_APPLICABLE_PREFIX),
        },
        {
            "name": "Product defects",
            "description": "The CRM did not do what the acceptance plan requires.",
            "matchedStatuses": ["failed"],
        },
        {
            "name": "Other broken cases",
            "description": "Broken without a known reason prefix.",
            "matchedStatuses": ["broken"],
        },
    ]


def public_url(url: str) -> str:
    """`url` without user info, query or fragment: nothing secret leaves in a report."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal needs its brackets back
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def environment_properties(run_info: RunInfo) -> dict[str, str]:
    """The Environment widget's rows: what was tested where. No credentials, ever."""
    rows = {
        "CRM": run_info.system,
        "CRM.version": run_info.system_version,
        "Base.URL": public_url(run_info.base_url),
        "Target": run_info.target,
        "Profile": run_info.profile,
        "Plan": f"{run_info.plan_name} ({run_info.plan_id})",
        "Run.id": run_info.run_id,
        "crmqa.version": run_info.crmqa_version,
        "Selection": run_info.selection,
    }
    return {key: value for key, value in rows.items() if value}


def _escape_property(text: str, *, key: bool) -> str:
    """Java .properties escaping (backslash escapes, \\uXXXX for anything non-ASCII)."""
    out = []
    for index, char in enumerate(text):
        if char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif char in "=:#!" or (char == " " and (key or index == 0)):
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) > 0x7E:
            out.append("".join(f"\\u{unit:04x}" for unit in _utf16_units(char)))
        else:
            out.append(char)
    return "".join(out)


def _utf16_units(char: str) -> list[int]:
    encoded = char.encode("utf-16-be")
    return [int.from_bytes(encoded[i : i + 2], "big") for i in range(0, len(encoded), 2)]


def executor_info(run_info: RunInfo) -> dict[str, Any]:
    """executor.json: who produced the results (Allure shows it in the overview)."""
    return {
        "name": "crmqa",
        "type": "crmqa",
        "buildName": run_info.run_id,
        "reportName": f"{run_info.plan_name} — {run_info.system or 'CRM'} acceptance",
    }


def allure_config(run_info: RunInfo, *, headline: str | None = None,
                  history_path: Path | None = None,
                  global_attachments: Sequence[Path] = ()) -> dict[str, Any]:
    """An Allure 3 config (allurerc.json): the report name (with the verdict's headline, so
    that the title says ACCEPTED or REJECTED), crmqa's categories, the history file that
    carries trends from one run of a campaign to the next, and the files shown as global
    attachments on the overview (the gate table)."""
    name = executor_info(run_info)["reportName"]
    config: dict[str, Any] = {
        "name": f"{name}: {headline}" if headline else name,
        "categories": allure_categories(),
    }
    if history_path is not None:
        config["historyPath"] = str(history_path)
    if global_attachments:
        # Allure reads these as glob patterns: escape the run folder's own characters
        config["globalAttachments"] = [glob.escape(str(path)) for path in global_attachments]
    return config


def write_allure_extras(results_dir: Path, run_info: RunInfo) -> list[Path]:
    """Write environment.properties, categories.json and executor.json into `results_dir`."""
    results_dir.mkdir(parents=True, exist_ok=True)
    environment = results_dir / "environment.properties"
    environment.write_text(
        "".join(
            f"{_escape_property(key, key=True)}={_escape_property(value, key=False)}\n"
            for key, value in environment_properties(run_info).items()
        ),
        encoding="ascii",
    )
    categories = results_dir / "categories.json"
    categories.write_text(json.dumps(allure_categories(), indent=2) + "\n", encoding="utf-8")
    executor = results_dir / "executor.json"
    executor.write_text(
        json.dumps(executor_info(run_info), indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return [environment, categories, executor]
