"""The languages crmqa writes its reports in, and the one check of a language a user asked for.

English is the source language of every report; the others have a gettext catalogue
(crmqa/reports/locales/<lang>.po). A suite may give its cases' titles in the same languages.
Both the plan layer (validating a suite's translations) and the reports use this list.
"""

from __future__ import annotations

import difflib
from typing import Literal, get_args

from crmqa.core.errors import CrmqaError

SOURCE_LANGUAGE = "en"
# the languages a suite may translate its cases into (English is the case as written)
TranslatedLanguage = Literal["zh", "ru"]
TRANSLATED_LANGUAGES: tuple[str, ...] = get_args(TranslatedLanguage)
LANGUAGES: tuple[str, ...] = (SOURCE_LANGUAGE, *TRANSLATED_LANGUAGES)
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese (简体中文)", "ru": "Russian (русский)"}
# what people type for a language crmqa has: locale names and the languages' own names
_ALIASES = {
    "english": "en", "chinese": "zh", "中文": "zh", "简体中文": "zh", "汉语": "zh",
    "russian": "ru", "русский": "ru", "cn": "zh", "rus": "ru", "eng": "en", "zho": "zh",
    "chi": "zh",
}


class UnknownLanguage(CrmqaError):
    """A report language crmqa has no catalogue for (a usage error, exit code 3)."""

    exit_code = 3


def language_suggestion(value: str) -> str | None:
    """The language crmqa has that `value` most likely means (zh-CN -> zh), or None."""
    text = value.strip().casefold().replace("_", "-")
    if text in LANGUAGES:
        return text
    base = text.split("-")[0]
    if base in LANGUAGES:
        return base
    if text in _ALIASES or base in _ALIASES:
        return _ALIASES.get(text) or _ALIASES[base]
    close = difflib.get_close_matches(text, [*LANGUAGES, *_ALIASES], n=1, cutoff=0.75)
    return (_ALIASES.get(close[0], close[0])) if close else None


def unknown_language_message(value: str) -> str:
    """`no reports in 'fr': use one of en, zh, ru` plus a did-you-mean when there is one."""
    message = f"no reports in {value!r}: use one of {', '.join(LANGUAGES)}"
    guess = language_suggestion(value)
    if guess is not None and guess != value:
        message += f" (did you mean {guess!r}, {LANGUAGE_NAMES[guess]}?)"
    return message


def check_language(value: str) -> str:
    """`value` if crmqa writes reports in it, else `UnknownLanguage` with a suggestion."""
    if value not in LANGUAGES:
        raise UnknownLanguage(unknown_language_message(value))
    return value
