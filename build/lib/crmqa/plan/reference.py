"""Key tables for docs/plan-reference.md, generated from the models' own descriptions.

The reference page holds hand-written prose and examples; between markers
`<!-- keys:Model -->` and `<!-- /keys -->` it holds a table of that model's keys, which
`refresh_reference` regenerates. A test keeps the page in step with the models; after a model
change run `python -m crmqa.plan.reference docs/plan-reference.md`.
"""

from __future__ import annotations

import re
import sys
import types
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from crmqa.plan import models
from crmqa.plan.case_sections import registered_sections

__all__ = ["key_table", "refresh_reference"]

_MARKER = re.compile(r"<!-- keys:(?P<model>\w+) -->\n.*?<!-- /keys -->", re.DOTALL)
_SCALARS = {str: "text", int: "integer", float: "number", bool: "true/false", type(None): "null"}


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *meta = get_args(annotation)
        if inner is str and any("entity" in str(getattr(m, "description", "")) for m in meta):
            return "operation name"
        return _type_name(inner)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        plain = [get_origin(m) or m for m in members]
        if {str, int, float, bool, list, dict} <= set(plain):
            return "any value"
        names = list(dict.fromkeys(_type_name(m) for m in members))
        if all(n.startswith("[") and "Step" in n for n in names) and len(names) > 2:
            return "[step](#steps)"
        if len(names) == 2 and names[1] == f"list of {names[0]}":
            return f"{names[0]}, or a list of them"
        return " or ".join(names)
    if origin is Literal:
        return " \\| ".join(f"`{value}`" for value in get_args(annotation))
    if origin is list:
        return f"list of {_type_name(get_args(annotation)[0])}"
    if origin is dict:
        return f"mapping of {_type_name(get_args(annotation)[1])}"
    if annotation is Any:
        return "any value"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(f"`{member.value}`" for member in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(info: Any) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        value = info.default_factory()
        if isinstance(value, BaseModel):
            return "see below"
        if isinstance(value, list) and value and isinstance(value[0], BaseModel):
            return "see text"
        return f"`{value!r}`".replace("'", "")
    value = info.default
    if value is None or value is PydanticUndefined:
        return "—"
    if isinstance(value, Enum):
        return f"`{value.value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{round(value, 3):g}`"
    if value == "":
        return '`""`'
    return f"`{value}`"


def key_table(model: type[BaseModel]) -> str:
    """A Markdown table of `model`'s keys: key, type, default, meaning."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        key = info.alias or name
        meaning = (info.description or "").replace("|", "\\|").replace("\n", " ")
        meaning = meaning.replace("<", "&lt;")  # `<entity>` would vanish as an HTML tag
        rows.append(f"| `{key}` | {_type_name(info.annotation)} | {_default(info)} | {meaning} |")
    return "\n".join(rows)


def _model_named(name: str) -> type[BaseModel]:
    """A plan model, or a model of a registered generator's or case section's module (their
    sections and parts; `load:`'s models are documented in docs/load.md)."""
    found = getattr(models, name, None)
    if found is None:
        from crmqa.plan.generators.registry import registered_generators

        owners: list[type[BaseModel]] = [
            generator.section for generator in registered_generators().values()]
        owners += [section.model for section in registered_sections()]
        for owner in owners:
            module = sys.modules.get(owner.__module__)
            found = getattr(module, name, None) if module is not None else None
            if found is not None:
                break
    if not (isinstance(found, type) and issubclass(found, BaseModel)):
        raise KeyError(f"no plan, generator or case section model named {name}")
    return found


def refresh_reference(text: str) -> str:
    """`text` with every marked key table regenerated from the models."""

    def table(match: re.Match[str]) -> str:
        model = _model_named(match.group("model"))
        return f"<!-- keys:{match.group('model')} -->\n{key_table(model)}\n<!-- /keys -->"

    return _MARKER.sub(table, text)


if __name__ == "__main__":  # pragma: no cover - a convenience for maintainers
    for name in sys.argv[1:] or ["docs/plan-reference.md"]:
        page = Path(name)
        page.write_text(refresh_reference(page.read_text(encoding="utf-8")), encoding="utf-8")
        print(page)
