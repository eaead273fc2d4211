"""The committed JSON Schemas match the models, and accept what the loader accepts."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from crmqa.plan.schema import BUILTIN_SCHEMAS, export_schemas, schema_for, schema_text

REPO = Path(__file__).resolve().parents[2]


def test_committed_schemas_are_up_to_date(tmp_path: Path) -> None:
    """Fails after a plan or profile model change until `crmqa schema` is run."""
    from crmqa.cli.schemas import export_all

    written = export_all(tmp_path)
    assert [p.name for p in written] == [
        *(f"{stem}.schema.json" for stem, *_ in BUILTIN_SCHEMAS), "profile.schema.json"
    ]
    for path in written:
        committed = REPO / "schema" / path.name
        assert committed.exists(), f"schema/{path.name} is missing"
        assert committed.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), (
            f"schema/{path.name} is stale: run `crmqa schema`"
        )


def test_extra_models_get_their_own_file(tmp_path: Path) -> None:
    from pydantic import BaseModel

    class Widget(BaseModel):
        """A thing with a size."""

        size: int

    written = export_schemas(tmp_path, extra=[("widget", Widget)])
    widget = json.loads((tmp_path / "widget.schema.json").read_text())
    assert written[-1].name == "widget.schema.json"
    assert widget["title"] == "crmqa widget" and widget["description"] == "A thing with a size."


def test_schema_uses_yaml_spellings_and_descriptions() -> None:
    from crmqa.plan.models import Plan

    schema = schema_for(Plan)
    op_step = schema["$defs"]["OpStep"]["properties"]
    assert "with" in op_step and "with_" not in op_step and "as" in op_step
    assert "$schema" in schema["properties"]
    assert schema["$defs"]["Case"]["properties"]["severity"]["description"]


def test_schema_accepts_the_repository_suites() -> None:
    suite_schema = json.loads(schema_text(schema_for(BUILTIN_SCHEMAS[1][1])))
    validator = jsonschema.Draft202012Validator(suite_schema)
    suites = sorted((REPO / "suites").rglob("*.yaml"))
    assert suites
    for path in suites:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
        assert errors == [], f"{path}: {errors[0].message if errors else ''}"


def test_reference_page_tables_match_the_models() -> None:
    """docs/plan-reference.md's key tables are generated; they must not drift from the models."""
    from crmqa.plan.reference import refresh_reference

    page = REPO / "docs" / "plan-reference.md"
    text = page.read_text(encoding="utf-8")
    assert text.count("<!-- keys:") >= 20
    assert refresh_reference(text) == text, (
        "docs/plan-reference.md is stale: run `python -m crmqa.plan.reference`"
    )
    design = REPO / "docs" / "test-design.md"  # the generator sections' tables
    text = design.read_text(encoding="utf-8")
    assert text.count("<!-- keys:") >= 8
    assert refresh_reference(text) == text, (
        "docs/test-design.md is stale: run `python -m crmqa.plan.reference docs/test-design.md`"
    )


def test_profile_schema_accepts_the_builtin_profiles() -> None:
    profile_schema = json.loads((REPO / "schema" / "profile.schema.json").read_text("utf-8"))
    validator = jsonschema.Draft202012Validator(profile_schema)
    profiles = sorted((REPO / "crmqa" / "profiles" / "builtin").glob("*.yaml"))
    assert profiles
    for path in profiles:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
        assert errors == [], f"{path}: {errors[0].message if errors else ''}"
