"""Templating for plan values: a sandboxed Jinja2 environment and CRM-flavoured Faker data.

Plans write `{{ fake.unique_email() }}`, `{{ saved.lead_id }}`, `{{ vars.company }}`,
`{{ env.CRM_URL }}`, `{{ params.status }}`, `{{ rules.lead.email.max_length }}` or
`{{ unique }}`. A string that is exactly one
`{{ expr }}` keeps the expression's own type (an int stays an int, a list stays a list), so
`id: "{{ saved.lead_id }}"` sends a number, not the string "42". Anything else renders to text.

Undefined names are errors (StrictUndefined), reported with the full dotted name that is
missing and a suggestion, never as Jinja's "'dict object' has no attribute" text.
"""

from __future__ import annotations

import difflib
import fnmatch
import itertools
import os
import re
import secrets
import unicodedata
from collections.abc import Collection, Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.utils import missing

from crmqa.core.errors import CrmqaError
from crmqa.core.jinja import (
    MAX_TEMPLATE_DEPTH,
    MappingFirstEnvironment,
    TemplateAnalysis,
    TemplateLanguage,
    has_markup,
    render_nested,
)

if TYPE_CHECKING:
    from faker import Faker

__all__ = [
    "MAX_TEMPLATE_DEPTH",
    "RESERVED_NAMES",
    "TemplateAnalysis",
    "TemplateRenderError",
    "analyse_template",
    "has_template",
    "make_faker",
    "render",
    "template_context",
    "template_error",
    "template_references",
    "uncalled_functions",
]

#: Top-level names every template context provides.
RESERVED_NAMES: tuple[str, ...] = ("fake", "vars", "saved", "env", "params", "unique", "rules")

# A process-wide token so that values made by two runs (or two processes) never collide.
# Deliberately not derived from the Faker seed: a seeded plan repeats its data, not its emails.
_RUN_TOKEN = secrets.token_hex(3)


class TemplateRenderError(CrmqaError):
    """A template could not be rendered: undefined name, forbidden access or a bad expression."""

    def __init__(self, message: str, template: str | None = None) -> None:
        self.message = message
        self.template = template
        super().__init__(message)


# --------------------------------------------------------------------------- scopes


class _Scope(dict):  # type: ignore[type-arg]
    """A dict that knows its dotted name (`vars`, `saved.lead`), for undefined-name messages."""

    scope_path: str = ""

    @classmethod
    def wrap(cls, data: Mapping[str, Any], path: str) -> _Scope:
        scope = cls(data)
        scope.scope_path = path
        return scope


class _EnvScope(Mapping[str, str]):
    """Environment variables, read when a template asks for them (never copied up front)."""

    scope_path = "env"

    def __init__(self, allowed: Collection[str] | None) -> None:
        self._allowed = None if allowed is None else tuple(allowed)

    def is_allowed(self, name: str) -> bool:
        if self._allowed is None:
            return True
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self._allowed)

    def __getitem__(self, name: str) -> str:
        if not self.is_allowed(name):
            raise TemplateRenderError(
                f"environment variable {name} is not allowed in templates "
                f"(allowed: {', '.join(self._allowed or ()) or 'none'})"
            )
        return os.environ[name]

    def __iter__(self) -> Iterator[str]:
        return (name for name in os.environ if self.is_allowed(name))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Undefined(StrictUndefined):
    """StrictUndefined whose message names the missing dotted variable and suggests one."""

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        name = self._undefined_name
        owner = self._undefined_obj
        if owner is missing:
            hint = _suggest(str(name), RESERVED_NAMES)
            return f"'{name}' is not defined{hint}"
        if isinstance(owner, _EnvScope) or getattr(owner, "scope_path", "") == "env":
            return f"environment variable {name} is not set"
        if isinstance(owner, Mapping):
            path = getattr(owner, "scope_path", "") or "the value"
            known = [str(key) for key in owner]
            hint = _suggest(str(name), known)
            if path == "saved" and not hint:
                hint = " (no earlier step saved it)"
            return f"'{path}.{name}' is not defined{hint}"
        return f"'{name}' is not defined on a {_kind_of(owner)}"


def _kind_of(value: Any) -> str:
    kinds = {str: "text", int: "number", float: "number", bool: "boolean", list: "list"}
    return kinds.get(type(value), "value")


def _suggest(word: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _PlanEnvironment(MappingFirstEnvironment):
    """Sandboxed Jinja2 for plan values.

    `saved.items` or `vars.count` are the values a plan saved under those names, not dict
    methods; a nested mapping keeps its dotted name for undefined-name messages.
    """

    def found(self, owner: Mapping[str, Any], key: str, value: Any) -> Any:
        if isinstance(value, Mapping) and not isinstance(value, _Scope):
            base = getattr(owner, "scope_path", "")
            return _Scope.wrap(value, f"{base}.{key}" if base else key)
        return value

    def missing_key(self, owner: Mapping[str, Any], key: str) -> Any:
        if isinstance(owner, (_Scope, _EnvScope)):
            return self.undefined(obj=owner, name=key)
        return self.attribute_of(owner, key)


def _no_functions(value: Any) -> Any:
    """Refuse to print a function: `{{ fake.email }}` without () is a mistake, not data."""
    if callable(value) and not isinstance(value, Undefined | type):
        name = getattr(value, "__name__", "function")
        raise TemplateRenderError(f"'{name}' is a function: write {name}() to call it")
    return value


_LANGUAGE = TemplateLanguage(
    _PlanEnvironment(
        undefined=_Undefined, autoescape=False, keep_trailing_newline=True,
        finalize=_no_functions,
    ),
    callables=("fake",),
)


# --------------------------------------------------------------------------- rendering


def has_template(text: str) -> bool:
    """True when `text` holds Jinja markup (`{{`, `{%` or `{#`)."""
    return has_markup(text)


def _plain(value: Any) -> Any:
    """Strip scope wrappers so callers get ordinary dicts back."""
    if isinstance(value, _Scope):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _render_text(text: str, context: Mapping[str, Any]) -> Any:
    if not has_markup(text):
        return text
    try:
        return _plain(_no_functions(_LANGUAGE.evaluate(text, context)))
    except TemplateRenderError as error:
        error.template = text
        raise
    except UndefinedError as error:
        raise TemplateRenderError(f"{error.message} in {text!r}", text) from None
    except SecurityError as error:
        raise TemplateRenderError(
            f"template tried something the sandbox forbids ({error}) in {text!r}", text
        ) from None
    except TemplateSyntaxError as error:
        raise TemplateRenderError(f"template syntax: {error.message} in {text!r}", text) from None
    except Exception as error:  # a filter or operator failed on the values given
        raise TemplateRenderError(f"template failed: {error} in {text!r}", text) from None


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside `value` (dicts and lists recursively) with `context`.

    A string that is exactly one `{{ expr }}` returns the expression's native value; other
    strings with markup return text; everything else is returned unchanged. Dict keys are not
    rendered. Raises `TemplateRenderError` for undefined names, sandbox violations and errors.
    """
    return render_nested(value, lambda text: _render_text(text, context))


def analyse_template(text: str) -> TemplateAnalysis:
    """Parse `text` once: its syntax error, the names it reads, and `fake.X` left uncalled.

    Cached by text: a plan repeats the same templates in thousands of cases.
    """
    return _LANGUAGE.analyse(text)


def template_error(text: str) -> str | None:
    """Return a plain-English syntax error for `text`, or None when it parses (or has no markup)."""
    return analyse_template(text).error


def uncalled_functions(text: str) -> list[str]:
    """`fake.X` used without `()` in `text` (`{{ fake.email }}`), which would print a function.

    Attributes that lead further (`fake.unique.email()`) are not counted.
    """
    return list(analyse_template(text).uncalled)


def template_references(text: str) -> list[tuple[str, str | None]]:
    """Top-level names a template reads, each with its first attribute if constant.

    `"{{ vars.company }} {{ fake.email() }}"` gives `[("vars", "company"), ("fake", "email")]`.
    Names the template defines itself (`{% set %}`, loop variables) are left out. Returns an
    empty list when the text has no markup or does not parse.
    """
    return list(analyse_template(text).references)


# --------------------------------------------------------------------------- faker

LEAD_STATUSES = ("new", "contacted", "qualified", "unqualified", "converted")
LEAD_SOURCES = ("web", "referral", "event", "cold_call", "partner", "other")
_PHONE_FORMATS = (
    "+1 (###) ###-####",
    "+44 #### ######",
    "+33 # ## ## ## ##",
    "+49 ### #######",
    "(###) ###-####",
    "+## ### ### ###",
)
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")


def _ascii_slug(text: str, limit: int) -> str:
    """Lower-case ASCII letters and digits only (names from other locales included)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "", folded.lower())
    return slug[:limit] or "user"


@cache
def _crm_provider() -> type:
    """The provider class; built on first use, so that importing crmqa does not import Faker
    (half a second of every run and every xdist worker, for plans that use no `fake`)."""
    from faker.providers import BaseProvider

    class _CrmProvider(BaseProvider):
        """CRM vocabulary for Faker. One instance per locale generator; the counter is shared."""

        def __init__(self, generator: Any, worker_id: str, run_token: str, counter: Any) -> None:
            super().__init__(generator)
            self._worker = _ascii_slug(worker_id, 12) if worker_id else "w"
            self._run_token = run_token
            self._counter = counter

        def lead_status(self) -> str:
            """A lead status of the canonical model."""
            return self.random_element(LEAD_STATUSES)

        def lead_source(self) -> str:
            """A lead source of the canonical model."""
            return self.random_element(LEAD_SOURCES)

        def crm_company(self) -> str:
            """A company name no longer than the canonical 100 characters."""
            return str(self.generator.company())[:100]

        def crm_phone(self) -> str:
            """A phone of `+`, digits, spaces, `-`, `(` and `)`, 7 to 20 characters long."""
            return self.numerify(self.random_element(_PHONE_FORMATS))

        def unique_token(self) -> str:
            """A short token unique to this worker, this process and this call."""
            return f"{self._worker}-{self._run_token}-{next(self._counter)}"

        def unique_email(self, domain: str | None = None) -> str:
            """An email no other call, worker or run makes: name, worker, run token, counter."""
            first = _ascii_slug(str(self.generator.first_name()), 20)
            last = _ascii_slug(str(self.generator.last_name()), 20)
            chosen = domain or self.random_element(_EMAIL_DOMAINS)
            return f"{first}.{last}.{self.unique_token()}@{chosen}"

    return _CrmProvider


def make_faker(
    locale: str | list[str],
    seed: int | None,
    worker_id: str,
    *,
    run_token: str | None = None,
) -> Faker:
    """A Faker for plan data with the CRM providers added.

    `seed` makes names, companies and phones repeatable; `unique_email()` and `unique_token()`
    still differ between workers (`worker_id`, e.g. the xdist `gw0`) and between runs
    (`run_token`, a random per-process token unless given).
    """
    from faker import Faker

    fake = Faker(locale)
    if seed is not None:
        fake.seed_instance(seed)
    counter = itertools.count(1)
    token = run_token if run_token is not None else _RUN_TOKEN
    for generator in fake.factories:
        generator.add_provider(_crm_provider()(generator, worker_id, token, counter))
    return fake


# --------------------------------------------------------------------------- context

_UNIQUE_COUNTER = itertools.count(1)


def template_context(
    *,
    fake: Faker,
    vars: Mapping[str, Any],  # the plan language calls them `vars`
    saved: Mapping[str, Any],
    env_allowed: Collection[str] | None = None,
    params: Mapping[str, Any] | None = None,
    unique: str | None = None,
    rules: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The names templates see: `fake`, `vars`, `saved`, `env`, `params`, `unique`, `rules`.

    `rules` is the plan's `requirements` as plain data (entity -> field -> rule, e.g.
    `rules.lead.first_name.max_length`), so suites derive boundary values from the plan.

    `env` reads os.environ lazily, limited to `env_allowed` names (fnmatch patterns such as
    `CRM_*`; None allows all). `unique` is one short token for the whole context (make one
    context per case run to share it between steps); pass it to reuse a known token.
    Parameter keys are also visible at top level (`{{ status }}` for `params.status`) unless
    they shadow one of the reserved names.
    """
    parameters = dict(params or {})
    context: dict[str, Any] = {
        name: value for name, value in parameters.items() if name not in RESERVED_NAMES
    }
    token = unique
    if token is None:
        worker = getattr(fake, "unique_token", None)
        token = worker() if callable(worker) else f"{_RUN_TOKEN}{next(_UNIQUE_COUNTER)}"
    context.update(
        fake=fake,
        vars=_Scope.wrap(vars, "vars"),
        saved=_Scope.wrap(saved, "saved"),
        env=_EnvScope(env_allowed),
        params=_Scope.wrap(parameters, "params"),
        unique=token,
        rules=_Scope.wrap(rules or {}, "rules"),
    )
    return context
