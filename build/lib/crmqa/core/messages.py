"""Sentences for people, kept as gettext messages with typed parameters until they are shown.

A layer below the reports (the gates, the run's conclusion) words what it found without
knowing the reader's language: it returns a `Message`, an English gettext message id with
named parameters, built with `say(...)`. The reports render it through the catalogue of the
run's language (crmqa.reports.i18n); `str(message)` is the English text, which verdict.json
keeps beside the structured form so that tools and older readers see the sentence as before.

A parameter is data shown as written (a case id, a count, a severity name from the plan), or
a `Message` / `Joined` that is itself translated. `say` marks the message for extraction
(`python -m crmqa.reports.catalogues update` collects every `say("...")` of the package).
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

Gettext = Callable[[str], str]


def _as_written(text: str) -> str:
    return text


class Message(BaseModel):
    """An English gettext message id (`%(name)s` placeholders) and its parameters."""

    model_config = ConfigDict(frozen=True)

    id: str
    params: dict[str, Param] = Field(default_factory=dict)

    def render(self, gettext: Gettext = _as_written) -> str:
        """The sentence in the language `gettext` translates into (English by default)."""
        text = gettext(self.id)
        if not self.params:
            return text
        return text % {name: render(value, gettext) for name, value in self.params.items()}

    def __str__(self) -> str:
        return self.render()


class Joined(BaseModel):
    """Several phrases shown one after another; the separator (", " or "; ") is a message
    too, so that a language with its own punctuation (Chinese) can use it."""

    model_config = ConfigDict(frozen=True)

    items: list[Phrase]
    separator: str = ", "

    def render(self, gettext: Gettext = _as_written) -> str:
        """The items in the language `gettext` translates into, joined."""
        return gettext(self.separator).join(render(item, gettext) for item in self.items)

    def __str__(self) -> str:
        return self.render()


# a phrase is translated (Message, Joined) or data shown as written (str, numbers)
Phrase = Message | Joined | str
Param = Message | Joined | str | int | float

def N_(message_id: str) -> str:
    """Mark a message id for extraction where it is defined; `say` it where it is used."""
    return message_id


# separators marked for extraction (their translations are punctuation and a conjunction)
LIST_SEPARATOR = N_(", ")
CLAUSE_SEPARATOR = N_("; ")
AND_SEPARATOR = N_(" and ")


def say(message_id: str, **params: Param) -> Message:
    """A message for the reports to translate: `say("only %(n)s case(s)", n=3)`."""
    return Message(id=message_id, params=params)


def joined(items: list[Phrase], separator: str = LIST_SEPARATOR) -> Joined:
    """`items` joined by `separator` (one of the separators above) when shown."""
    return Joined(items=items, separator=separator)


def render(phrase: Param, gettext: Gettext = _as_written) -> str:
    """A phrase or parameter as text: messages translated, data as written."""
    if isinstance(phrase, Message | Joined):
        return phrase.render(gettext)
    return str(phrase)


Message.model_rebuild()
Joined.model_rebuild()
