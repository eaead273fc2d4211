"""The reports' words in English, Chinese and Russian: one gettext catalogue for every report.

Every fixed word crmqa writes into a report (summary.md and summary.html, the verdict on the
console, the verdict and gate table in Allure, the documents) is an English gettext message,
marked `_("...")` in the templates and `N_("...")` / `gettext(...)` in the code. The
translations live in `locales/<lang>.po` (`locales/messages.pot` is the template extracted
from the code). Data from the plan and the CRM is shown as written, except case titles a
suite translated (`Case.translations`).

The .po files are read at run time with Babel and turned into gettext translations in
memory (once per language and process, a few milliseconds): a fresh clone, an editable
install and a wheel all work without a compile step, and nothing generated is committed
that could drift from the .po files. `python -m crmqa.reports.catalogues update` re-extracts the
messages and merges them into the .po files (new ones empty, for a translator to fill;
crmqa.reports.catalogues); tests/reports/test_i18n.py fails while a message has no
translation.
"""

from __future__ import annotations

import gettext as gettext_module
import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from crmqa.core.languages import (
    SOURCE_LANGUAGE,
    check_language,
)
from crmqa.core.messages import render

if TYPE_CHECKING:  # a case's Allure result uses this module: the gates only the verdict's
    from crmqa.gates import GateResult, Verdict, Withheld

REPORTS_DIR = Path(__file__).parent
LOCALES = REPORTS_DIR / "locales"
TEMPLATE_FILE = LOCALES / "messages.pot"
DOMAIN = "crmqa"

Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Mark a message for extraction where it is defined; it is translated where shown."""
    return message


def po_file(lang: str) -> Path:
    return LOCALES / f"{lang}.po"


@cache
def translations(lang: str) -> gettext_module.NullTranslations:
    """The gettext translations of `lang` (English: the messages as written)."""
    check_language(lang)
    if lang == SOURCE_LANGUAGE:
        return gettext_module.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po_file(lang).open("rb") as stream:
        catalog = read_po(stream, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)  # a fuzzy guess is not a translation
    compiled.seek(0)
    return gettext_module.GNUTranslations(compiled)


def gettext_for(lang: str) -> Gettext:
    """`_` for `lang`: English text in, the translation out (the English text when missing)."""
    return translations(lang).gettext


# --------------------------------------------------------------------------- verdict words

DECISION_WORDS = {
    "ACCEPTED": N_("ACCEPTED"),
    "REJECTED": N_("REJECTED"),
    "SUSPENDED": N_("SUSPENDED"),
}
# by crmqa.gates.WithheldKind (a StrEnum: its members are these strings)
WITHHELD_WORDS = {
    "environment": N_("NO VERDICT (environment problem)"),
    "test_defect": N_("NO VERDICT (test defect)"),
    "interrupted": N_("NO VERDICT (interrupted)"),
}
# gate names as crmqa.gates writes them: a fixed name, or "prefix: subject"
GATE_NAMES = {
    "executed cases": N_("executed cases"),
    "highest open severity": N_("highest open severity"),
    "open defects": N_("open defects"),
    "share of top severity": N_("share of top severity"),
    "share of top priority": N_("share of top priority"),
    "nothing left behind": N_("nothing left behind"),
    "pass rate": N_("pass rate"),
    "must pass": N_("must pass"),
}
GATE_RESULT_WORDS = {"n/a": N_("n/a"), "PASS": N_("PASS"), "FAIL": N_("FAIL")}
# outcomes, defect lifecycle states and requirement standings shown as words
STATE_WORDS = {
    word: word for word in (
        N_("passed"), N_("failed"), N_("broken"), N_("blocked"), N_("skipped"),
        N_("not_applicable"), N_("not run"), N_("waived"), N_("new"), N_("open"),
        N_("fixed"), N_("reopened"), N_("passing"), N_("failing"), N_("not fully verified"),
        N_("setup"), N_("step"), N_("teardown"), N_("cleanup"), N_("manual"), N_("no verdict"),
        N_("suspended"), N_("resumed"), N_("still suspended"),
    )
}


def decision_word(verdict: Verdict, _: Gettext) -> str:
    """The headline in the reader's language, the decision's own name kept beside it
    (`已拒绝 (REJECTED)`), so that it still matches verdict.json and the exit code."""
    if verdict.decision is not None:
        english = verdict.decision.value
        word = _(DECISION_WORDS[english])
    else:
        english = verdict.headline
        kind = verdict.withheld.kind if verdict.withheld else "environment"
        word = _(WITHHELD_WORDS[kind])
    return word if word == english else f"{word} ({english})"


def gate_name(name: str, _: Gettext) -> str:
    """A gate row's name in the reader's language: `pass rate: functional` keeps its subject."""
    if name in GATE_NAMES:
        return _(GATE_NAMES[name])
    prefix, separator, subject = name.partition(": ")
    if separator and prefix in GATE_NAMES:
        return f"{_(GATE_NAMES[prefix])}: {subject}"
    return name


def gate_result_word(row: GateResult, _: Gettext) -> str:
    """The result column of a gate row: n/a, PASS or FAIL (summary, console, Allure)."""
    word = "n/a" if not row.applicable else ("PASS" if row.passed else "FAIL")
    return _(GATE_RESULT_WORDS[word])


def state_word(state: str, _: Gettext) -> str:
    """An outcome or lifecycle word (`failed`, `reopened`) in the reader's language."""
    return _(STATE_WORDS[state]) if state in STATE_WORDS else state


@dataclass(frozen=True)
class ShownGate:
    """A gate row's texts as a reader sees them, in the reader's language."""

    name: str
    required: str
    actual: str
    detail: str


def gate_texts(row: GateResult, _: Gettext) -> ShownGate:
    """A gate row's name, requirement, actual value and detail in the reader's language.

    A row carries its texts as messages (`GateResult.words`); a row of a verdict written
    before them has English strings only: its name is still translated, the rest shown as
    written.
    """
    if row.words is None:
        return ShownGate(gate_name(row.name, _), row.required, row.actual, row.detail)
    words = row.words
    return ShownGate(render(words.name, _), render(words.required, _),
                     render(words.actual, _), render(words.detail, _))


def warnings(verdict: Verdict, _: Gettext) -> list[str]:
    """The verdict's warnings in the reader's language (English when recorded without their
    messages)."""
    if len(verdict.warning_words) != len(verdict.warnings):
        return list(verdict.warnings)
    return [render(words, _) for words in verdict.warning_words]


def withheld_reason(withheld: Withheld, _: Gettext) -> str:
    """Why the verdict was withheld, in the reader's language."""
    if withheld.reason_words is None:
        return withheld.reason
    return render(withheld.reason_words, _)


def reasons(verdict: Verdict, _: Gettext) -> list[str]:
    """The verdict's reasons, most decisive first, in the reader's language.

    verdict.json keeps the English reasons and, beside them, the same as messages
    (`Verdict.reason_words`). A verdict recorded without them gets its gate-row reasons
    rebuilt from the failing rows, in crmqa.gates' order, and the rest in English.
    """
    if len(verdict.reason_words) == len(verdict.reasons):
        return [render(words, _) for words in verdict.reason_words]
    english = {
        f"{row.name}: {row.actual} (required {row.required})": row
        for row in verdict.failing()
    }
    lines = []
    for reason in verdict.reasons:
        row = english.get(reason)
        if row is None:
            lines.append(reason)
            continue
        lines.append(_("%(gate)s: %(actual)s (required %(required)s)") % {
            "gate": gate_name(row.name, _), "actual": row.actual, "required": row.required})
    return lines
