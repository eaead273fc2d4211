"""crmqa.plan: the plan language.

- `models`: the pydantic models (Plan, Suite, Case, steps, Expect, Gates, ...), the only schema.
- `loader`: `load_plan(path) -> LoadedPlan` (raises `PlanError` listing every issue),
  `load_yaml_model(path, model_cls) -> (model, PositionMap)`, `load_yaml_document(path)`,
  `validate_paths(paths) -> list[PlanIssue]`.
- `templating`: `render(value, context)`, `template_context(...)`, `make_faker(...)`,
  `template_error(text)`.
- `schema`: `export_schemas(out_dir, extra=())` writes the JSON Schemas editors use.
- `yaml_source`, `issues`, `reference`: YAML with positions, error wording, reference tables.
"""
