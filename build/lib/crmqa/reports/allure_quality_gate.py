"""crmqa's gate table in Allure 3's "Quality Gates" tab.

Allure 3 evaluates quality gates itself: rules from its config (`qualityGate.rules`, with
custom rules in `qualityGate.use`) run over the test results, and their results are shown in
the report's Quality Gates tab. Three facts of Allure 3.18 decide how crmqa gets its own gate
rows there:

- custom rules are JavaScript objects with a `validate` function, so the config must be a
  JavaScript module (allurerc.mjs), not JSON;
- only `allure run -- <command>` evaluates the gates and puts their results into the report;
  `allure awesome` / `generate` over a results folder never do. `allure run` also reads only
  the result files that appear while its command runs, so the command copies the run's
  results into the folder it watches;
- the evaluation calls `Iterator.prototype.toArray` (Node 22); on Node 20 a tiny polyfill
  (allure_node_polyfill.cjs, loaded with NODE_OPTIONS=--require) supplies it.

crmqa does not let Allure judge anything: each gate row becomes a rule whose `validate`
returns the row crmqa's gates already computed (passed, actual, required), so the tab shows
exactly verdict.json's rows, in the run's language.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crmqa.gates import GateResult, Verdict
from crmqa.reports.i18n import Gettext, ShownGate, gate_texts, gettext_for

NODE_POLYFILL = Path(__file__).with_name("allure_node_polyfill.cjs")
# copies the run's results (argv 1) into the folder `allure run` watches (argv 2)
COPY_RESULTS_SCRIPT = (
    "require('fs').cpSync(process.argv[1], process.argv[2], {recursive: true})"
)


def _message(row: GateResult, shown: ShownGate, _: Gettext) -> str:
    text = _("%(gate)s: %(actual)s (required %(required)s)") % {
        "gate": shown.name, "actual": shown.actual, "required": shown.required}
    if not row.applicable:
        text = f"{_('n/a')} — {text}"
    return f"{text}\n{shown.detail}" if shown.detail else text


def quality_gate_rows(verdict: Verdict, lang: str = "en") -> list[dict[str, Any]]:
    """One Allure quality-gate result per gate row: rule (the gate's name), success, actual,
    expected (the requirement) and message, in `lang`. Names are made unique, as Allure keys
    its rules by name."""
    _ = gettext_for(lang)
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for row in verdict.gate_results:
        shown = gate_texts(row, _)
        name = shown.name
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name} ({seen[name]})"
        rows.append({
            "rule": name,
            "success": row.passed,
            "actual": shown.actual,
            "expected": shown.required,
            "message": _message(row, shown, _),
        })
    return rows


def config_module(config: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """allurerc.mjs: `config` (plain data) plus a quality gate whose rules answer with
    crmqa's gate rows. JSON is valid JavaScript, so every value goes in as JSON."""
    return (
        "// written by crmqa for one report; see crmqa/reports/allure_quality_gate.py\n"
        f"const config = {json.dumps(config, ensure_ascii=False, indent=2)};\n"
        f"const rows = {json.dumps(rows, ensure_ascii=False, indent=2)};\n"
        "if (rows.length) {\n"
        "  config.qualityGate = {\n"
        "    rules: [Object.fromEntries(rows.map((row) => [row.rule, row.expected]))],\n"
        "    use: rows.map((row) => ({\n"
        "      rule: row.rule,\n"
        "      message: () => row.message,\n"
        "      successMessage: () => row.message,\n"
        "      validate: async () => ({\n"
        "        success: row.success, actual: row.actual, expected: row.expected,\n"
        "        testResults: [],\n"
        "      }),\n"
        "    })),\n"
        "  };\n"
        "}\n"
        "export default config;\n"
    )
