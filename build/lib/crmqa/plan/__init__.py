"""crmqa.plan: the plan language.

- `models`: the pydantic models (Plan, Suite, Case, steps, Expect, Gates, ...), the only schema.
- `loader`: `load_plan(path) -> LoadedPlan` (raises `PlanError` listing every issue),
  `load_yaml_model(path, model_cls) -> (model, PositionMap)`, `load_yaml_document(path)`,
  `validate_paths(paths) -> list[PlanIssue]`, `dependency_order(cases)`.
- `loaded`: `LoadedPlan`, `LoadedCase` (with their files' positions and `issue()` helpers).
- `rules`: cross-reference rules, `@plan_rule`, `registered_rules()`, `RuleContext`.
- `templating`: `render(value, context)`, `template_context(...)`, `make_faker(...)`,
  `template_error(text)`, `analyse_template(text)`.
- `schema`: `export_schemas(out_dir, extra=())` writes the JSON Schemas editors use.
- `yaml_source` (reading files), `yaml_builder` (events -> data within bounds), `positions`
  (`PositionMap`), `documents` (one document against one model), `issues` (error wording),
  `sources` (cases as written), `includes`, `manual`, `dependencies` (the depends_on graph),
  `reference` (reference tables).
"""
