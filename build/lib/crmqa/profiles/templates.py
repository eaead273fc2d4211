"""Templates inside profiles: request headers, query parameters, bodies and query languages.

A profile writes `{{ env.ACME_TENANT }}` in a header, `{{ filters | json | base64 }}` in a
query parameter, or a SOQL / OData query string built from the step's search. These templates
run in their own sandboxed Jinja2 environment, apart from the plan's: a profile is about how a
product speaks, so it gets the filters query languages need and only the names its place
offers (a header knows the identity, a list request knows the page and the filters).

As in plans, a string that is exactly one `{{ expr }}` keeps the expression's type (a list
stays a list, so a JSON body can be built from the step's filters); other strings render to
text, and `None` renders as nothing. Every template is parsed when the profile loads
(`template_problem`), with the names it may use, so a typo is a positioned profile error.
"""

from __future__ import annotations

import base64
import difflib
import json
import re
import uuid
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.exceptions import SecurityError, UndefinedError

from crmqa.core.errors import EnvironmentProblem
from crmqa.core.jinja import MappingFirstEnvironment, TemplateLanguage, has_markup, render_nested
from crmqa.plan.templating import TemplateRenderError

__all__ = [
    "COMMON_NAMES",
    "TemplateEnv",
    "has_markup",
    "names_read",
    "render_value",
    "template_problem",
    "value_problems",
]

#: Names every profile template may use: the environment, the target, the identity acting,
#: and two helpers for values that must differ per request.
COMMON_NAMES: tuple[str, ...] = ("env", "target", "identity", "uuid", "now")

# --------------------------------------------------------------------------- filters


def _json(value: Any) -> str:
    """Compact JSON text (`{"a":1}`), keeping non-ASCII characters as they are."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _text_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else _json(value)).encode("utf-8")


def _base64(value: Any) -> str:
    """Standard base64 of the value's UTF-8 text (dicts and lists as compact JSON)."""
    return base64.b64encode(_text_bytes(value)).decode("ascii")


def _base64url(value: Any) -> str:
    """URL-safe base64 without padding (JWT style)."""
    return base64.urlsafe_b64encode(_text_bytes(value)).decode("ascii").rstrip("=")


def _urlencode(value: Any) -> str:
    """Percent-encode text for any part of a URL (`/`, `&`, `=` included); a mapping becomes
    a query string (`a=1&b=x%20y`)."""
    if isinstance(value, Mapping):
        return urlencode({k: v for k, v in value.items() if v is not None}, quote_via=quote)
    return quote("" if value is None else str(value), safe="")


_SOQL_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t",
                 "\b": "\\b", "\f": "\\f"}


def _soql_escape(text: str, like: bool = False) -> str:
    escaped = "".join(_SOQL_ESCAPES.get(char, char) for char in text)
    if like:  # LIKE wildcards match literally only when escaped
        escaped = escaped.replace("%", "\\%").replace("_", "\\_")
    return escaped


def _soql(value: Any) -> str:
    """A SOQL literal: text quoted and escaped (`'O\\'Brien'`), numbers and booleans as they
    are, None as `null`, a list as `('a','b')` for IN."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "(" + ",".join(_soql(item) for item in value) + ")"
    return "'" + _soql_escape(str(value)) + "'"


def _soql_like(value: Any) -> str:
    """Text escaped for the inside of a SOQL LIKE pattern (quotes, `%` and `_` escaped), so
    that `LIKE '%{{ query | soql_like }}%'` matches the text literally."""
    return _soql_escape("" if value is None else str(value), like=True)


def _odata(value: Any) -> str:
    """An OData v4 literal: text in single quotes with quotes doubled (`'O''Brien'`), numbers
    and booleans as they are, None as `null`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _regex_replace(value: Any, pattern: str, replacement: str) -> str:
    return re.sub(pattern, replacement, "" if value is None else str(value))


FILTERS: dict[str, Any] = {
    "json": _json,
    "base64": _base64,
    "base64url": _base64url,
    "urlencode": _urlencode,
    "soql": _soql,
    "soql_like": _soql_like,
    "odata": _odata,
    "regex_replace": _regex_replace,
}


# --------------------------------------------------------------------------- environment


class _Undefined(StrictUndefined):
    """Names the missing name plainly (`'qurey' is not defined`)."""

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        owner = self._undefined_obj
        if isinstance(owner, TemplateEnv):
            return f"environment variable {self._undefined_name} is not set"
        if isinstance(owner, Mapping):
            return f"'{self._undefined_name}' is not defined here"
        return f"'{self._undefined_name}' is not defined"


class TemplateEnv(Mapping[str, str]):
    """The environment variables a profile template may read (`{{ env.NAME }}`)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _finalize(value: Any) -> Any:
    return "" if value is None else value


_LANGUAGE = TemplateLanguage(MappingFirstEnvironment(
    undefined=_Undefined, autoescape=False, keep_trailing_newline=True, finalize=_finalize))
_LANGUAGE.environment.filters.update(FILTERS)


def common_context(env: Mapping[str, str], target: Mapping[str, Any],
                   identity: Mapping[str, Any]) -> dict[str, Any]:
    """The names every profile template has: env, target, identity, uuid(), now()."""
    return {
        "env": TemplateEnv(env),
        "target": dict(target),
        "identity": dict(identity),
        "uuid": lambda: str(uuid.uuid4()),
        "now": lambda: datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def _render_text(text: str, context: Mapping[str, Any], where: str) -> Any:
    if not has_markup(text):
        return text
    try:
        return _LANGUAGE.evaluate(text, context)
    except UndefinedError as error:
        message = error.message or "undefined name"
        if message.startswith("environment variable"):
            raise EnvironmentProblem(f"{where}: {message}") from None
        raise TemplateRenderError(f"{where}: {message} in {text!r}", text) from None
    except SecurityError as error:
        raise TemplateRenderError(f"{where}: the sandbox forbids it ({error}) in {text!r}",
                                  text) from None
    except TemplateSyntaxError as error:
        raise TemplateRenderError(f"{where}: template syntax: {error.message}", text) from None
    except (EnvironmentProblem, TemplateRenderError):
        raise
    except Exception as error:  # a filter or an operator failed on the values given
        raise TemplateRenderError(f"{where}: template failed: {error} in {text!r}",
                                  text) from None


def render_value(value: Any, context: Mapping[str, Any], where: str = "profile") -> Any:
    """Render every string in `value` (mappings and lists too; keys are not rendered).

    Raises `EnvironmentProblem` for an unset environment variable, `TemplateRenderError`
    for anything else a template gets wrong at run time; `where` names the profile key.
    """
    return render_nested(value, lambda text: _render_text(text, context, where))


# --------------------------------------------------------------------------- validation


def names_read(text: str) -> set[str]:
    """The top-level names a template reads (empty when it has no markup or does not parse)."""
    return set(_LANGUAGE.analyse(text).names)


def template_problem(text: str, names: Collection[str]) -> tuple[str, str | None] | None:
    """Why `text` cannot work where only `names` are defined: (message, suggestion), or None.

    Checks the syntax, every filter it names, and every top-level name it reads.
    """
    analysis = _LANGUAGE.analyse(text)
    if analysis.error is not None:
        return analysis.error, None
    known_filters = set(_LANGUAGE.environment.filters)
    for name in sorted(set(analysis.filters) - known_filters):
        close = difflib.get_close_matches(name, sorted(known_filters), n=1)
        return (f"no filter named '{name}'",
                f"did you mean '{close[0]}'?" if close else None)
    allowed = set(names) | set(_LANGUAGE.environment.globals) | {"loop"}
    for name in sorted(analysis.names - allowed):
        close = difflib.get_close_matches(name, sorted(names), n=1)
        return (f"'{name}' is not defined here (this template may use "
                f"{', '.join(sorted(names))})",
                f"did you mean '{close[0]}'?" if close else None)
    return None


def value_problems(value: Any, names: Collection[str],
                   where: tuple[str | int, ...] = ()
                   ) -> Iterator[tuple[tuple[str | int, ...], str, str | None]]:
    """(path, message, suggestion) for each template inside `value` that cannot work."""
    if isinstance(value, str):
        problem = template_problem(value, names)
        if problem is not None:
            yield where, problem[0], problem[1]
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from value_problems(item, names, (*where, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from value_problems(item, names, (*where, index))
