"""The sandboxed Jinja2 core that crmqa's two template languages share.

Plans template their values (`crmqa.plan.templating`: Faker, saved values, variables) and
profiles template their requests (`crmqa.profiles.templates`: query languages, headers). Each
language has its own environment (its names, filters and error wording); what they must agree
on lives here, so that a template behaves the same wherever it is written:

- a string that is exactly one `{{ expr }}` keeps the expression's own type (an int stays an
  int, a list a list); any other string with markup renders to text;
- `mapping.key` finds the key before any dict method (`saved.items` is the value a plan saved
  under `items`, not `dict.items`);
- a template is parsed once per text (compiled templates and analyses are cached by text);
- an analysis names the variables and filters a template reads and refuses runaway nesting,
  so that both languages can report a mistake before the first request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, nodes
from jinja2.sandbox import SandboxedEnvironment

__all__ = [
    "MAX_TEMPLATE_DEPTH",
    "MappingFirstEnvironment",
    "TemplateAnalysis",
    "TemplateLanguage",
    "has_markup",
    "render_nested",
    "single_expression",
]

_MARKERS = ("{{", "{%", "{#")
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)

#: How deeply a template's expressions may nest. Jinja's parser and compiler recurse, so
#: a runaway template (a hundred nested brackets) must become an issue, not a RecursionError.
MAX_TEMPLATE_DEPTH = 30


def has_markup(text: str) -> bool:
    """True when `text` holds Jinja markup (`{{`, `{%` or `{#`)."""
    return any(marker in text for marker in _MARKERS)


def single_expression(text: str) -> str | None:
    """The expression of a text that is exactly one `{{ expr }}`, else None."""
    match = _SINGLE_EXPRESSION.match(text)
    if not match:
        return None
    expression = match.group("expr")
    if "{{" in expression or "}}" in expression or not expression.strip():
        return None
    return expression.strip()


class MappingFirstEnvironment(SandboxedEnvironment):
    """Sandboxed Jinja2 where `mapping.key` (and `mapping['key']`) finds the key first.

    Subclasses decide what a found value becomes (`found`) and what a missing key means
    (`missing_key`: an undefined value by default).
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            try:
                value = obj[attribute]
            except KeyError:
                return self.missing_key(obj, attribute)
            return self.found(obj, attribute, value)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Mapping) and isinstance(argument, str):
            return self.getattr(obj, argument)
        return super().getitem(obj, argument)

    def found(self, owner: Mapping[str, Any], key: str, value: Any) -> Any:
        """What `owner.key` gives when the key exists."""
        return value

    def missing_key(self, owner: Mapping[str, Any], key: str) -> Any:
        """What `owner.key` gives when the key does not exist."""
        return self.undefined(obj=owner, name=key)

    def attribute_of(self, obj: Any, attribute: str) -> Any:
        """Plain sandboxed attribute access (a dict's own methods), past the mapping rule."""
        return super().getattr(obj, attribute)


@dataclass(frozen=True)
class TemplateAnalysis:
    """What validation needs to know about one template text, from one parse."""

    error: str | None
    #: top-level names read, each with its first constant attribute (`vars.company`)
    references: tuple[tuple[str, str | None], ...] = ()
    #: filters applied anywhere in the template
    filters: tuple[str, ...] = ()
    #: `<callable_name>.X` reached without being called (`fake.email` instead of `fake.email()`)
    uncalled: tuple[str, ...] = ()

    @property
    def names(self) -> frozenset[str]:
        """The top-level names the template reads."""
        return frozenset(name for name, _ in self.references)


_PLAIN = TemplateAnalysis(None)


class TemplateLanguage:
    """One environment's compiled templates and analyses, cached by text.

    `callables` names the top-level objects whose attributes are functions to call
    (a plan's `fake`): `analyse` lists their attributes used without `()`.
    """

    def __init__(self, environment: SandboxedEnvironment, *, callables: tuple[str, ...] = (),
                 cache_size: int = 4096) -> None:
        self.environment = environment
        self._callables = callables
        self.template: Callable[[str], Any] = lru_cache(maxsize=cache_size)(
            environment.from_string)
        self.expression: Callable[[str], Any] = lru_cache(maxsize=cache_size)(
            self._compile_expression)
        self.analyse: Callable[[str], TemplateAnalysis] = lru_cache(maxsize=cache_size * 16)(
            self._analyse)

    def _compile_expression(self, expression: str) -> Any:
        return self.environment.compile_expression(expression, undefined_to_none=False)

    def evaluate(self, text: str, context: Mapping[str, Any]) -> Any:
        """`text` evaluated: a single expression's own value, or the rendered text.

        Jinja's exceptions (UndefinedError, SecurityError, TemplateSyntaxError, whatever a
        filter raises) propagate: each language words them for its readers.
        """
        expression = single_expression(text)
        if expression is not None:
            try:
                compiled = self.expression(expression)
            except TemplateSyntaxError:
                compiled = None  # e.g. a filter block; render it as text instead
            if compiled is not None:
                value = compiled(**context)
                if isinstance(value, Undefined):
                    str(value)  # raises UndefinedError with the environment's message
                return value
        return self.template(text).render(**context)

    def _analyse(self, text: str) -> TemplateAnalysis:
        if not has_markup(text):
            return _PLAIN
        try:
            tree = self.environment.parse(text)
            too_deep = _depth(tree) > MAX_TEMPLATE_DEPTH + 3  # Template, Output, expression
        except TemplateSyntaxError as error:
            where = f" (template line {error.lineno})" if "\n" in text.strip() else ""
            return TemplateAnalysis(f"bad template syntax: {error.message}{where}")
        except RecursionError:
            too_deep = True
        if too_deep:
            return TemplateAnalysis(
                f"template nested too deeply: at most {MAX_TEMPLATE_DEPTH} levels of brackets, "
                "filters and attributes"
            )
        return TemplateAnalysis(
            None,
            tuple(_references(tree)),
            tuple(sorted({node.name for node in tree.find_all(nodes.Filter)})),
            tuple(_uncalled(tree, self._callables)),
        )


def render_nested(value: Any, render_text: Callable[[str], Any]) -> Any:
    """`value` with every string inside it (mappings and lists too) passed to `render_text`.

    Mapping keys are not rendered; other values are returned as they are.
    """
    if isinstance(value, str):
        return render_text(value)
    if isinstance(value, Mapping):
        return {key: render_nested(item, render_text) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render_nested(item, render_text) for item in value]
    return value


def _depth(tree: nodes.Node) -> int:
    """The depth of a syntax tree, walked without recursion."""
    deepest = 0
    stack: list[tuple[nodes.Node, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return deepest


def _uncalled(tree: nodes.Template, callables: tuple[str, ...]) -> list[str]:
    if not callables:
        return []
    used_further = {id(call.node) for call in tree.find_all(nodes.Call)}
    for access in tree.find_all((nodes.Getattr, nodes.Getitem)):
        used_further.add(id(getattr(access, "node", None)))
    return [
        access.attr
        for access in tree.find_all(nodes.Getattr)
        if isinstance(access.node, nodes.Name)
        and access.node.name in callables
        and id(access) not in used_further
    ]


def _references(tree: nodes.Template) -> list[tuple[str, str | None]]:
    """Top-level names read, each with its first constant attribute; names the template
    defines itself (`{% set %}`, loop variables, macro parameters) are left out."""
    assigned: set[str] = {
        node.name for node in tree.find_all(nodes.Name) if node.ctx in ("store", "param")
    }
    found: list[tuple[str, str | None]] = []
    seen_names: set[int] = set()
    for access in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(access, nodes.Getattr | nodes.Getitem)
        inner = access.node
        if isinstance(inner, nodes.Name) and inner.ctx == "load" and inner.name not in assigned:
            key: str | None = None
            if isinstance(access, nodes.Getattr):
                key = access.attr
            elif isinstance(access.arg, nodes.Const) and isinstance(access.arg.value, str):
                key = access.arg.value
            found.append((inner.name, key))
            seen_names.add(id(inner))
    for name_node in tree.find_all(nodes.Name):
        if (
            name_node.ctx == "load"
            and id(name_node) not in seen_names
            and name_node.name not in assigned
        ):
            found.append((name_node.name, None))
    return found
