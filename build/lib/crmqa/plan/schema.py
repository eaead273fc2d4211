"""JSON Schemas for editors, exported from the plan models (the models are the only schema).

Editors that speak the YAML language server pick a schema from a first-line comment
`# yaml-language-server: $schema=../schema/plan.schema.json` or from the document's `$schema`
key, and then complete keys and show each key's description as help.

Regenerate with `crmqa schema` or `python -m crmqa.plan.schema [OUT_DIR]`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from crmqa.plan.models import ManualResultsFile, Plan, Suite

__all__ = ["BUILTIN_SCHEMAS", "export_schemas", "schema_for", "schema_text"]

_DRAFT = "https://json-schema.org/draft/2020-12/schema"

#: (file stem, model, title, description) of the schemas this package owns.
BUILTIN_SCHEMAS: tuple[tuple[str, type[BaseModel], str, str], ...] = (
    (
        "plan",
        Plan,
        "crmqa acceptance plan",
        "The acceptance plan for one engagement: target, included suites, extra cases, data, "
        "scales, gates and waivers.",
    ),
    (
        "suite",
        Suite,
        "crmqa suite",
        "A reusable file of test cases written against crmqa's canonical CRM model.",
    ),
    (
        "manual-results",
        ManualResultsFile,
        "crmqa manual results",
        "What testers recorded for the plan's manual cases: case id -> result.",
    ),
)


def schema_for(
    model: type[BaseModel], *, title: str | None = None, description: str | None = None
) -> dict[str, Any]:
    """The JSON Schema of one model as YAML writes it (aliases such as `with`, `as`, `$schema`)."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    if model is Plan:
        _add_generator_sections(schema)
    ordered: dict[str, Any] = {"$schema": _DRAFT}
    if title:
        ordered["title"] = title
    if description:
        ordered["description"] = description
    for key, value in schema.items():
        if key not in ordered:
            ordered[key] = value
    return ordered


def _add_generator_sections(schema: dict[str, Any]) -> None:
    """`generate:` is a mapping in the Plan model (generators are plug-ins, registered
    after the model exists); its schema is each registered generator's section."""
    from crmqa.plan.generators.registry import sections_json_schema

    sections = sections_json_schema("#/$defs/{model}")
    definitions = schema.setdefault("$defs", {})
    for name, definition in sections.pop("$defs", {}).items():
        if name in definitions and definitions[name] != definition:
            raise ValueError(f"two different schema definitions are named {name}")
        definitions[name] = definition
    schema["properties"]["generate"] = sections


def schema_text(schema: dict[str, Any]) -> str:
    """Stable text for a schema file (so that regeneration diffs are real changes only)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def export_schemas(out_dir: Path, extra: Iterable[tuple[str, type[BaseModel]]] = ()) -> list[Path]:
    """Write plan.schema.json, suite.schema.json, manual-results.schema.json into `out_dir`.

    `extra` adds (name, model) pairs owned elsewhere, e.g. `("profile", Profile)` gives
    profile.schema.json. Returns the files written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries: list[tuple[str, type[BaseModel], str | None, str | None]] = [
        (stem, model, title, description) for stem, model, title, description in BUILTIN_SCHEMAS
    ]
    for name, model in extra:
        doc = (model.__doc__ or "").strip().splitlines()
        entries.append((name, model, f"crmqa {name}", doc[0] if doc else None))
    written: list[Path] = []
    for stem, model, title, description in entries:
        path = out_dir / f"{stem}.schema.json"
        path.write_text(
            schema_text(schema_for(model, title=title, description=description)), encoding="utf-8"
        )
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - a convenience for maintainers
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("schema")
    for written_path in export_schemas(target):
        print(written_path)
