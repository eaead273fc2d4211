"""Maintaining the reports' message catalogues: extract, merge, check.

`python -m crmqa.reports.catalogues update` extracts every message of crmqa/reports (Babel's
Python extractor for the code, Jinja's for the templates) and the `say(...)` / `N_(...)`
messages of the rest of the package (crmqa.core.messages) into locales/messages.pot and merges
it into each language's .po file; `check` lists what a catalogue lacks. The reports read the
.po files at run time (crmqa.reports.i18n); tests/reports/test_i18n.py uses `untranslated`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from crmqa.core.languages import TRANSLATED_LANGUAGES
from crmqa.reports.i18n import DOMAIN, REPORTS_DIR, TEMPLATE_FILE, po_file

PACKAGE_DIR = REPORTS_DIR.parent


def extract_messages() -> dict[str, list[tuple[str, int]]]:
    """Every message the reports use: msgid -> [(file, line)], from the code and the
    templates of crmqa/reports, and the `say(...)` / `N_(...)` messages the layers below
    word for the reports (crmqa.core.messages: the gates' rows, reasons and warnings)."""
    from babel.messages.extract import extract, extract_from_dir

    method_map = [("**.py", "python"), ("**.j2", "jinja2.ext:babel_extract")]
    options_map = {
        "**.j2": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                  "lstrip_blocks": "true", "newstyle_gettext": "true"},
        "**.py": {},
    }
    found: dict[str, list[tuple[str, int]]] = {}
    for filename, line, message, _comments, _context in extract_from_dir(
        str(REPORTS_DIR), method_map, options_map, keywords={"_": None, "N_": None,
                                                              "gettext": None},
    ):
        if isinstance(message, tuple):  # plural forms: both are messages
            for text in message:
                found.setdefault(text, []).append((filename, line))
        elif message:
            found.setdefault(message, []).append((filename, line))
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if REPORTS_DIR in path.parents:
            continue
        text = path.read_text(encoding="utf-8")
        if "say(" not in text and "N_(" not in text:  # most modules word nothing: not parsed
            continue
        with path.open("rb") as stream:
            for line, message, _comments, _context in extract(
                "python", stream, keywords={"say": None, "N_": None},
            ):
                if isinstance(message, str) and message:
                    name = path.relative_to(PACKAGE_DIR).as_posix()
                    found.setdefault(message, []).append((f"../{name}", line))
    return found


def untranslated(lang: str) -> list[str]:
    """Messages the reports use that `lang`'s catalogue lacks or leaves empty or fuzzy."""
    from babel.messages.pofile import read_po

    with po_file(lang).open("rb") as stream:
        catalog = read_po(stream, locale=lang)
    missing = []
    for message_id in sorted(extract_messages()):
        message = catalog.get(message_id)
        if message is None or not message.string or message.fuzzy:
            missing.append(message_id)
    return missing


# what the .po headers say instead of Babel's placeholders (FULL NAME <EMAIL@ADDRESS>)
HEADER = {
    "copyright_holder": "the crmqa contributors",
    "msgid_bugs_address": "",
    "last_translator": "the crmqa contributors",
    "language_team": "the crmqa contributors",
    "header_comment": "# Translations of crmqa's reports. Update with\n"
                      "# `python -m crmqa.reports.catalogues update`.\n#",
}


def update_catalogues() -> list[Path]:
    """Write messages.pot from the code and merge it into every language's .po file."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    template = Catalog(project="crmqa", domain=DOMAIN, charset="utf-8")
    for name, value in HEADER.items():
        setattr(template, name, value)
    for message_id, locations in sorted(extract_messages().items()):
        template.add(message_id, locations=[(f"crmqa/reports/{f}", n) for f, n in locations],
                     flags=("python-format",) if "%(" in message_id else ())
    written = [TEMPLATE_FILE]
    with TEMPLATE_FILE.open("wb") as stream:
        write_po(stream, template, width=0, omit_header=False, no_location=True)
    for lang in TRANSLATED_LANGUAGES:
        path = po_file(lang)
        with path.open("rb") as stream:
            catalog = read_po(stream, locale=lang, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        for name, value in HEADER.items():
            setattr(catalog, name, value)
        catalog.fuzzy = False  # the header is not a guess
        catalog.obsolete.clear()
        with path.open("wb") as stream:
            write_po(stream, catalog, width=0, no_location=True, sort_output=True)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    """`python -m crmqa.reports.catalogues update|check`: maintain the catalogues."""
    if argv[:1] == ["update"]:
        for path in update_catalogues():
            print(f"wrote {path}")
        return 0
    if argv[:1] == ["check"]:
        problems = 0
        for lang in TRANSLATED_LANGUAGES:
            for message in untranslated(lang):
                print(f"{po_file(lang)}: no translation of {message!r}")
                problems += 1
        return 1 if problems else 0
    print("usage: python -m crmqa.reports.catalogues update|check", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
