"""Loading a plan: YAML with positions, model validation, includes, defaults and references.

Everything is checked in one pass and every problem from every file is reported together, as
one `PlanError` whose issues each carry `file:line:col`, the offending line and, where one
exists, a "did you mean" suggestion. Structure is validated by the pydantic models (one
schema technology); cross-references (targets, case ids, scale levels, included files,
templates) are checked on the raw data as well, so that a structural error in one place does
not hide a dangling reference in another.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from crmqa.core.errors import PlanError, PlanIssue, SourcePosition
from crmqa.plan.issues import did_you_mean, issues_from_validation
from crmqa.plan.models import (
    Case,
    Category,
    ManualResult,
    ManualResultsFile,
    Plan,
    Scales,
    Suite,
)
from crmqa.plan.templating import (
    RESERVED_NAMES,
    has_template,
    make_faker,
    template_error,
    template_references,
    uncalled_functions,
)
from crmqa.plan.yaml_source import DataPath, PositionMap, YamlDocument, read_yaml

__all__ = [
    "LoadedCase",
    "LoadedPlan",
    "PositionMap",
    "document_kind",
    "load_plan",
    "load_yaml_document",
    "load_yaml_model",
    "validate_paths",
]

ModelT = TypeVar("ModelT", bound=BaseModel)

_PLAN_KEYS = ("id", "name", "system", "target", "targets")
_SUITE_KEYS = ("suite", "cases")
_YAML_SUFFIXES = (".yaml", ".yml")
_SKIPPED_DIRS = frozenset({"node_modules", "reports", "__pycache__", "venv"})
# Case ids share prefixes (LEAD-001, LEAD-101): suggest only really close ones.
_ID_CUTOFF = 0.75
# Names Jinja itself provides in every template.
_JINJA_GLOBALS = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace", "loop"})


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class LoadedCase:
    """One case of the plan, with suite defaults applied and where it was written."""

    case: Case
    source: SourcePosition
    suite_id: str | None = None
    suite_path: Path | None = None


@dataclass
class LoadedPlan:
    """A valid plan with its included suites resolved.

    `cases` holds the included suites' selected cases, in include order, then the plan's own.
    `manual_results` maps manual case ids to what a tester recorded (empty without a file).
    """

    plan: Plan
    path: Path
    base_dir: Path
    cases: list[LoadedCase]
    manual_results: dict[str, ManualResult] = field(default_factory=dict)

    def case(self, case_id: str) -> LoadedCase:
        """The loaded case with this id (KeyError if there is none)."""
        for loaded in self.cases:
            if loaded.case.id == case_id:
                return loaded
        raise KeyError(case_id)

    @property
    def case_ids(self) -> list[str]:
        """Ids of all cases, in run order."""
        return [loaded.case.id for loaded in self.cases]


# --------------------------------------------------------------------------- generic documents


def load_yaml_document(path: str | Path, *, display_name: str | None = None) -> YamlDocument:
    """Read a YAML file into data plus positions; syntax problems are in `.issues`."""
    return read_yaml(path, display_name=display_name)


def _document_shape_issue(
    document: YamlDocument, what: str, keys: Sequence[str]
) -> PlanIssue | None:
    """An issue when a file that must hold a mapping is empty or holds something else."""
    if document.issues:
        return None
    wanted = ", ".join(keys)
    if document.data is None:
        return PlanIssue(
            f"the file is empty: {what} needs {wanted}",
            SourcePosition(document.positions.file, 1, 1),
        )
    if not isinstance(document.data, dict):
        from crmqa.plan.issues import describe_value

        return document.positions.issue(
            f"{what} must be a mapping of keys ({wanted}), not {describe_value(document.data)}"
        )
    return None


def _validate(
    model_cls: type[ModelT], document: YamlDocument, data: Any | None = None
) -> tuple[ModelT | None, list[PlanIssue]]:
    payload = document.data if data is None else data
    try:
        return model_cls.model_validate(payload), []
    except ValidationError as error:
        return None, issues_from_validation(error, model_cls, payload, document.positions)


def load_yaml_model(
    path: str | Path,
    model_cls: type[ModelT],
    *,
    display_name: str | None = None,
    what: str | None = None,
) -> tuple[ModelT, PositionMap]:
    """Read one YAML file and validate it with `model_cls`, with positioned errors.

    Raises `PlanError` with every issue (syntax, duplicate keys, unknown keys, wrong types).
    `what` names the document in messages ("a profile"); defaults from the model name.
    """
    document = read_yaml(path, display_name=display_name)
    noun = what or f"a {model_cls.__name__.lower()} file"
    keys = [
        info.alias or name for name, info in model_cls.model_fields.items() if info.is_required()
    ]
    shape = _document_shape_issue(document, noun, keys or ["its keys"])
    issues = list(document.issues) + ([shape] if shape else [])
    if not issues:
        model, issues = _validate(model_cls, document)
        if model is not None and not issues:
            return model, document.positions
    raise PlanError(_sorted(issues, [document.positions.file]))


# --------------------------------------------------------------------------- plan loading


@dataclass
class _CaseSource:
    """A case as written: raw mapping, where it is, and its model once validated."""

    raw: dict[str, Any]
    path: DataPath
    positions: PositionMap
    suite_id: str | None
    suite_path: Path | None
    model: Case | None = None

    @property
    def id(self) -> str | None:
        value = self.raw.get("id")
        return value if isinstance(value, str) else None

    def issue(self, message: str, key: str | int | None = None, **kwargs: Any) -> PlanIssue:
        path = self.path if key is None else (*self.path, key)
        return self.positions.issue(message, path, **kwargs)


@dataclass
class _SuiteSource:
    document: YamlDocument
    display: str
    model: Suite | None
    cases: list[_CaseSource]


class _PlanLoader:
    """One load of one plan: collects issues from every file, then builds the LoadedPlan."""

    def __init__(self, path: Path, display: str) -> None:
        self.path = path
        self.display = display
        self.base_dir = path.parent
        self.issues: list[PlanIssue] = []
        self.file_order: list[str] = [display]
        self.suites: dict[Path, _SuiteSource] = {}

    # ----------------------------------------------------------------- entry

    def load(self) -> LoadedPlan:
        document = read_yaml(self.path, display_name=self.display)
        self.issues.extend(document.issues)
        shape = _document_shape_issue(document, "a plan", _PLAN_KEYS)
        if shape is not None:
            self.issues.append(shape)
        if document.issues or shape is not None:
            raise PlanError(self.issues)
        data: dict[str, Any] = document.data
        positions = document.positions
        if "suite" in data and "targets" not in data:
            self.issues.append(
                positions.issue(
                    "this is a suite file, not a plan: include it from a plan "
                    "(`crmqa validate` checks a suite on its own)",
                    ("suite",),
                    at_key=True,
                )
            )
            raise PlanError(self.issues)

        plan, plan_issues = _validate(Plan, document)
        self.issues.extend(plan_issues)

        scales = self._scales(data, plan)
        selected: list[_CaseSource] = []
        excluded_ids: dict[str, str] = {}
        for index, entry in enumerate(_as_list(data.get("include"))):
            selected.extend(self._include(index, entry, positions, excluded_ids))
        own_cases = [
            _CaseSource(raw, ("cases", index), positions, None, None)
            for index, raw in enumerate(_as_list(data.get("cases")))
            if isinstance(raw, dict)
        ]
        if plan is not None:
            for source, model in zip(own_cases, plan.cases, strict=True):
                source.model = model
        selected.extend(own_cases)

        known_ids = self._check_case_ids(selected)
        self._check_cases(selected, known_ids, excluded_ids, scales, data)
        self._check_plan_references(data, positions, known_ids, excluded_ids, scales)
        self._check_templates(data, positions, skip=("cases", "include"), plan_vars=_vars(data))
        manual = self._manual_results(data, positions, selected)

        if self.issues or plan is None:
            raise PlanError(_sorted(self.issues, self.file_order))
        return LoadedPlan(
            plan=plan,
            path=self.path,
            base_dir=self.base_dir,
            cases=[self._loaded(source) for source in selected],
            manual_results=manual,
        )

    def _loaded(self, source: _CaseSource) -> LoadedCase:
        assert source.model is not None  # no issues means every case validated
        position = source.positions.value(source.path) or SourcePosition(self.display, 1, 1)
        return LoadedCase(source.model, position, source.suite_id, source.suite_path)

    # ----------------------------------------------------------------- includes

    def _include(
        self, index: int, entry: Any, positions: PositionMap, excluded_ids: dict[str, str]
    ) -> list[_CaseSource]:
        where: DataPath
        filters: Mapping[str, Any]
        if isinstance(entry, str):
            relative, filters, where = entry, {}, ("include", index)
        elif isinstance(entry, dict) and isinstance(entry.get("suite"), str):
            relative, filters, where = entry["suite"], entry, ("include", index, "suite")
        else:
            return []  # the model reports the malformed entry
        target = self.base_dir / relative
        display = _display_join(self.display, relative)
        if not target.is_file():
            problem = "is a folder" if target.is_dir() else "does not exist"
            self.issues.append(
                positions.issue(
                    f"included suite file '{relative}' {problem}",
                    where,
                    suggestion=did_you_mean(relative, _yaml_files_under(self.base_dir)),
                )
            )
            return []
        resolved = target.resolve()
        if resolved == self.path.resolve():
            self.issues.append(positions.issue("a plan cannot include itself", where))
            return []
        if resolved in self.suites:
            self.issues.append(positions.issue(f"suite file '{relative}' is included twice", where))
            return []
        suite = self._load_suite(target, display, positions, where)
        if suite is None:
            return []
        self.suites[resolved] = suite
        return self._filter(suite, filters, positions, ("include", index), excluded_ids)

    def _load_suite(
        self, path: Path, display: str, plan_positions: PositionMap, where: DataPath
    ) -> _SuiteSource | None:
        document = read_yaml(path, display_name=display)
        if display not in self.file_order:
            self.file_order.append(display)
        self.issues.extend(document.issues)
        if document.issues:
            return None
        data = document.data
        if not isinstance(data, dict) or "suite" not in data:
            looks_like = ""
            if isinstance(data, dict) and "targets" in data:
                looks_like = " (it looks like a plan)"
            elif isinstance(data, dict) and "results" in data:
                looks_like = " (it looks like a manual results file)"
            self.issues.append(
                plan_positions.issue(
                    f"'{display}' is not a suite file{looks_like}: a suite has top-level "
                    "keys 'suite' and 'cases'",
                    where,
                )
            )
            return None
        suite, issues = _validate_suite(document)
        self.issues.extend(issues)
        return _suite_source(document, display, suite, path)

    def _filter(
        self,
        suite: _SuiteSource,
        filters: Mapping[str, Any],
        positions: PositionMap,
        where: DataPath,
        excluded_ids: dict[str, str],
    ) -> list[_CaseSource]:
        ids = [source.id for source in suite.cases if source.id]
        wanted = filters.get("cases")
        excluded = filters.get("exclude")
        tags = filters.get("tags")
        for key, names in (("cases", wanted), ("exclude", excluded)):
            for position, name in enumerate(_as_list(names)):
                if isinstance(name, str) and name not in ids:
                    self.issues.append(
                        positions.issue(
                            f"case '{name}' is not in suite '{suite.display}'",
                            (*where, key, position),
                            suggestion=did_you_mean(name, ids, cutoff=_ID_CUTOFF),
                        )
                    )
        chosen: list[_CaseSource] = []
        for source in suite.cases:
            case_tags = _as_list(source.raw.get("tags"))
            keep = (
                (not isinstance(wanted, list) or source.id in wanted)
                and not (isinstance(excluded, list) and source.id in excluded)
                and (not isinstance(tags, list) or any(tag in case_tags for tag in tags))
            )
            if keep:
                chosen.append(source)
            elif source.id:
                excluded_ids[source.id] = suite.display
        return chosen

    # ----------------------------------------------------------------- checks

    def _scales(self, data: dict[str, Any], plan: Plan | None) -> Scales | None:
        if plan is not None:
            return plan.scales
        raw = data.get("scales", {})
        try:
            return Scales.model_validate(raw if raw is not None else {})
        except ValidationError:
            return None  # already reported by the plan's validation

    def _check_case_ids(self, cases: list[_CaseSource]) -> list[str]:
        first: dict[str, _CaseSource] = {}
        for source in cases:
            case_id = source.id
            if case_id is None:
                continue
            if case_id in first:
                earlier = first[case_id].positions.value((*first[case_id].path, "id"))
                self.issues.append(
                    source.issue(
                        f"duplicate case id '{case_id}' (first defined at {earlier})", "id"
                    )
                )
            else:
                first[case_id] = source
        return list(first)

    def _unknown_case(
        self, name: str, known: list[str], excluded: Mapping[str, str]
    ) -> tuple[str, str | None]:
        if name in excluded:
            return (
                f"case '{name}' is not part of this plan: the include filters for "
                f"'{excluded[name]}' leave it out",
                None,
            )
        return f"unknown case id '{name}'", did_you_mean(name, known, cutoff=_ID_CUTOFF)

    def _check_cases(
        self,
        cases: list[_CaseSource],
        known: list[str],
        excluded: Mapping[str, str],
        scales: Scales | None,
        plan_data: dict[str, Any],
    ) -> None:
        severities = [level.name for level in scales.severity] if scales else None
        priorities = [level.name for level in scales.priority] if scales else None
        plan_vars = _vars(plan_data)
        for source in cases:
            raw = source.raw
            for key, levels, scale in (
                ("severity", severities, "severity"),
                ("priority", priorities, "priority"),
            ):
                value = raw.get(key)
                if levels is not None and isinstance(value, str) and value not in levels:
                    self.issues.append(
                        source.issue(
                            f"unknown {scale} '{value}': the plan's {scale} scale is "
                            f"{', '.join(levels)}",
                            key,
                            suggestion=did_you_mean(value, levels),
                        )
                    )
            for index, name in enumerate(_as_list(raw.get("depends_on"))):
                if not isinstance(name, str):
                    continue
                if name == source.id:
                    self.issues.append(
                        source.positions.issue(
                            "a case cannot depend on itself", (*source.path, "depends_on", index)
                        )
                    )
                elif name not in known:
                    message, hint = self._unknown_case(name, known, excluded)
                    self.issues.append(
                        source.positions.issue(
                            message, (*source.path, "depends_on", index), suggestion=hint
                        )
                    )
            self._check_templates(
                raw,
                source.positions,
                prefix=source.path,
                extra_names=_parameter_names(raw),
                plan_vars=plan_vars,
            )
            self._check_saved_names(source)
            self._check_identities(source, _identity_names(plan_data))
        self._check_dependency_cycles(cases)

    def _check_identities(self, source: _CaseSource, identities: list[str] | None) -> None:
        """`as: NAME` must be an identity of some target, or `anonymous` (typos fail early).

        Only the plan's own cases are checked: an included (portable) suite may use roles a
        target lacks (`sales2`, `viewer`); such cases are not applicable at run time.
        """
        if identities is None or source.suite_path is not None:
            return
        for phase in ("setup", "steps", "teardown"):
            for index, step in enumerate(_as_list(source.raw.get(phase))):
                for path, name in _identity_uses(step, (*source.path, phase, index)):
                    if name not in identities and name != "anonymous" and not has_template(name):
                        self.issues.append(
                            source.positions.issue(
                                f"no target has an identity '{name}' (identities: "
                                f"{', '.join(identities) or 'none'})",
                                path,
                                suggestion=did_you_mean(name, [*identities, "anonymous"]),
                            )
                        )

    def _check_saved_names(self, source: _CaseSource) -> None:
        """`saved.X` must be saved by an earlier step of the case (or by the same step).

        Setup and steps run in order; teardown runs last and may use anything saved before.
        """
        phases = [
            (phase, _as_list(source.raw.get(phase))) for phase in ("setup", "steps", "teardown")
        ]
        everything = {key for _, steps in phases for step in steps for key in _saved_keys(step)}
        available: set[str] = set()
        for phase, steps in phases:
            if phase == "teardown":
                available = set(everything)
            for index, step in enumerate(steps):
                own = _saved_keys(step)
                for path, text in _strings(step, (*source.path, phase, index)):
                    for name, attribute in template_references(text):
                        if name != "saved" or attribute is None:
                            continue
                        if attribute in available or attribute in own:
                            continue
                        if attribute in everything:
                            message = f"saved.{attribute} is used before the step that saves it"
                        else:
                            message = f"saved.{attribute} is not saved by any step of this case"
                        self.issues.append(
                            source.positions.issue(
                                message,
                                path,
                                suggestion=did_you_mean(attribute, sorted(available | own)),
                            )
                        )
                        break
                available |= own

    def _check_dependency_cycles(self, cases: list[_CaseSource]) -> None:
        edges = {
            source.id: [n for n in _as_list(source.raw.get("depends_on")) if isinstance(n, str)]
            for source in cases
            if source.id
        }
        by_id = {source.id: source for source in cases if source.id}
        reported: set[frozenset[str]] = set()
        for start in edges:
            cycle = _find_cycle(start, edges)
            if cycle and frozenset(cycle) not in reported:
                reported.add(frozenset(cycle))
                source = by_id[cycle[0]]
                chain = " -> ".join([*cycle, cycle[0]])
                self.issues.append(
                    source.issue(f"cases depend on each other in a cycle: {chain}", "depends_on")
                )

    def _check_plan_references(
        self,
        data: dict[str, Any],
        positions: PositionMap,
        known: list[str],
        excluded: Mapping[str, str],
        scales: Scales | None,
    ) -> None:
        targets = data.get("targets")
        target = data.get("target")
        if isinstance(targets, dict) and isinstance(target, str):
            names = [str(name) for name in targets]
            if target.strip() not in names:
                self.issues.append(
                    positions.issue(
                        f"unknown target '{target}': the plan's targets are "
                        f"{', '.join(names) or 'none'}",
                        ("target",),
                        suggestion=did_you_mean(target, names),
                    )
                )
        raw_gates = data.get("gates")
        gates: dict[str, Any] = raw_gates if isinstance(raw_gates, dict) else {}
        for index, name in enumerate(_as_list(gates.get("must_pass"))):
            if isinstance(name, str) and name not in known:
                message, hint = self._unknown_case(name, known, excluded)
                self.issues.append(
                    positions.issue(
                        f"gates.must_pass: {message}",
                        ("gates", "must_pass", index),
                        suggestion=hint,
                    )
                )
        ceiling = gates.get("max_open_severity")
        if scales is not None and isinstance(ceiling, str):
            levels = [level.name for level in scales.severity]
            if ceiling not in levels:
                self.issues.append(
                    positions.issue(
                        f"unknown severity '{ceiling}': the plan's severity scale is "
                        f"{', '.join(levels)}",
                        ("gates", "max_open_severity"),
                        suggestion=did_you_mean(ceiling, levels),
                    )
                )
        for index, waiver in enumerate(_as_list(data.get("waivers"))):
            name = waiver.get("case") if isinstance(waiver, dict) else None
            if isinstance(name, str) and name not in known:
                message, hint = self._unknown_case(name, known, excluded)
                self.issues.append(
                    positions.issue(
                        f"waiver: {message}", ("waivers", index, "case"), suggestion=hint
                    )
                )
        if isinstance(data.get("scales"), dict):
            for scale in ("severity", "priority"):
                seen: set[str] = set()
                for index, level in enumerate(_as_list(data["scales"].get(scale))):
                    name = level.get("name") if isinstance(level, dict) else None
                    if isinstance(name, str):
                        if name in seen:
                            self.issues.append(
                                positions.issue(
                                    f"level '{name}' appears twice in the {scale} scale",
                                    ("scales", scale, index, "name"),
                                )
                            )
                        seen.add(name)

    def _check_templates(
        self,
        value: Any,
        positions: PositionMap,
        *,
        prefix: DataPath = (),
        skip: Iterable[str] = (),
        extra_names: Iterable[str] = (),
        plan_vars: list[str] | None = None,
    ) -> None:
        allowed = set(RESERVED_NAMES) | set(extra_names) | _JINJA_GLOBALS
        for path, text in _strings(value, prefix, skip=tuple(skip)):
            problem = template_error(text)
            if problem:
                self.issues.append(positions.issue(problem, path))
                continue
            reference_problem = False
            for name, attribute in template_references(text):
                issue = _reference_issue(name, attribute, allowed, plan_vars)
                if issue:
                    message, hint = issue
                    self.issues.append(positions.issue(message, path, suggestion=hint))
                    reference_problem = True
                    break
            uncalled = uncalled_functions(text)
            if uncalled and not reference_problem:
                self.issues.append(
                    positions.issue(
                        f"fake.{uncalled[0]} is a function: write fake.{uncalled[0]}() to call it",
                        path,
                    )
                )

    def _manual_results(
        self, data: dict[str, Any], positions: PositionMap, cases: list[_CaseSource]
    ) -> dict[str, ManualResult]:
        spec = data.get("manual_results")
        if not isinstance(spec, dict) or not isinstance(spec.get("file"), str):
            return {}
        relative = spec["file"]
        target = self.base_dir / relative
        display = _display_join(self.display, relative)
        if not target.is_file():
            self.issues.append(
                positions.issue(
                    f"manual results file '{relative}' does not exist; create it or remove "
                    "manual_results",
                    ("manual_results", "file"),
                    suggestion=did_you_mean(relative, _yaml_files_under(self.base_dir)),
                )
            )
            return {}
        document = read_yaml(target, display_name=display)
        self.file_order.append(display)
        self.issues.extend(document.issues)
        shape = _document_shape_issue(document, "a manual results file", ["results"])
        if shape is not None:
            self.issues.append(shape)
        if document.issues or shape is not None:
            return {}
        model, issues = _validate(ManualResultsFile, document)
        self.issues.extend(issues)
        manual_ids = [
            source.id
            for source in cases
            if source.id and _category(source) == Category.MANUAL.value
        ]
        all_ids = [source.id for source in cases if source.id]
        raw_results = document.data.get("results")
        if isinstance(raw_results, dict):
            for name in raw_results:
                if name in manual_ids:
                    continue
                if name in all_ids:
                    message, hint = f"case '{name}' is not a manual case", None
                else:
                    message = f"unknown manual case '{name}'"
                    hint = did_you_mean(name, manual_ids, cutoff=_ID_CUTOFF)
                self.issues.append(
                    document.positions.issue(
                        message, ("results", name), at_key=True, suggestion=hint
                    )
                )
        return dict(model.results) if model is not None else {}


# --------------------------------------------------------------------------- helpers


def _validate_suite(document: YamlDocument) -> tuple[Suite | None, list[PlanIssue]]:
    """Validate a suite with its module/category defaults filled into cases that omit them."""
    data = document.data
    info = data.get("suite") if isinstance(data.get("suite"), dict) else {}
    defaults = _suite_defaults(info)
    if defaults:
        data = dict(data)
        data["cases"] = (
            [
                {**defaults, **case} if isinstance(case, dict) else case
                for case in _as_list(data.get("cases"))
            ]
            if isinstance(data.get("cases"), list)
            else data.get("cases")
        )
    return _validate(Suite, document, data)


def _suite_defaults(info: Mapping[str, Any]) -> dict[str, str]:
    """The suite's module/category for its cases; invalid ones are reported once, not per case."""
    defaults: dict[str, str] = {}
    if isinstance(info.get("module"), str):
        defaults["module"] = info["module"]
    if info.get("category") in {category.value for category in Category}:
        defaults["category"] = info["category"]
    return defaults


def _suite_source(
    document: YamlDocument, display: str, suite: Suite | None, path: Path | None
) -> _SuiteSource:
    data = document.data
    info = data.get("suite") if isinstance(data.get("suite"), dict) else {}
    suite_id = info.get("id") if isinstance(info.get("id"), str) else None
    defaults = _suite_defaults(info)
    sources = [
        _CaseSource({**defaults, **raw}, ("cases", index), document.positions, suite_id, path)
        for index, raw in enumerate(_as_list(data.get("cases")))
        if isinstance(raw, dict)
    ]
    if suite is not None:
        for source, model in zip(sources, suite.cases, strict=True):
            source.model = model
    return _SuiteSource(document, display, suite, sources)


def _category(source: _CaseSource) -> str:
    if source.model is not None:
        return source.model.category.value
    value = source.raw.get("category", Category.FUNCTIONAL.value)
    return value if isinstance(value, str) else ""


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _vars(plan_data: Mapping[str, Any]) -> list[str] | None:
    data = plan_data.get("data")
    if not isinstance(data, dict):
        return []
    variables = data.get("vars", {})
    return [str(name) for name in variables] if isinstance(variables, dict) else None


def _parameter_names(case: Mapping[str, Any]) -> set[str]:
    names: set[str] = set()
    for entry in _as_list(case.get("parameters")):
        if isinstance(entry, dict):
            names.update(str(key) for key in entry)
    return names


def _strings(
    value: Any, path: DataPath, *, skip: tuple[str, ...] = ()
) -> Iterator[tuple[DataPath, str]]:
    """Every string with template markup inside `value`, with its data path."""
    if isinstance(value, str):
        if has_template(value):
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if not path and key in skip:
                continue
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def _identity_names(plan_data: Mapping[str, Any]) -> list[str] | None:
    """Identity names of all targets, or None when the targets are too broken to tell."""
    targets = plan_data.get("targets")
    if not isinstance(targets, dict):
        return None
    names: list[str] = []
    for target in targets.values():
        if not isinstance(target, dict):
            return None
        identities = target.get("identities") or {}
        if not isinstance(identities, dict):
            return None
        names.extend(str(name) for name in identities if str(name) not in names)
    return names


def _identity_uses(step: Any, path: DataPath) -> list[tuple[DataPath, str]]:
    """(path, name) of each `as:` in a step, the repeated step of a wait_until included."""
    if not isinstance(step, dict):
        return []
    uses = [((*path, "as"), step["as"])] if isinstance(step.get("as"), str) else []
    wait = step.get("wait_until")
    if isinstance(wait, dict):
        uses += _identity_uses(wait.get("step"), (*path, "wait_until", "step"))
    return uses


def _saved_keys(step: Any) -> set[str]:
    """Names a step saves: its own `save`, and a wait_until's inner step's `save`."""
    if not isinstance(step, dict):
        return set()
    keys = {str(k) for k in step.get("save") or {}} if isinstance(step.get("save"), dict) else set()
    wait = step.get("wait_until")
    if isinstance(wait, dict):
        keys |= _saved_keys(wait.get("step"))
    return keys


@lru_cache(maxsize=1)
def _reference_faker_names() -> frozenset[str]:
    """Attribute names a template may call on `fake` (providers and CRM additions)."""
    fake = make_faker("en_US", 0, "check")
    names = {name for name in dir(fake) if not name.startswith("_")}
    names.update(name for name in dir(fake.factories[0]) if not name.startswith("_"))
    return frozenset(names)


def _reference_issue(
    name: str, attribute: str | None, allowed: set[str], plan_vars: list[str] | None
) -> tuple[str, str | None] | None:
    if name not in allowed:
        return (
            f"unknown template variable '{name}'; templates can use "
            f"{', '.join(RESERVED_NAMES)} and the case's parameters",
            did_you_mean(name, sorted(allowed - _JINJA_GLOBALS)),
        )
    if name == "fake" and attribute is not None and attribute not in _reference_faker_names():
        return (
            f"fake.{attribute} is not a Faker provider",
            did_you_mean(attribute, sorted(_reference_faker_names())),
        )
    if (
        name == "vars"
        and attribute is not None
        and plan_vars is not None
        and (attribute not in plan_vars)
    ):
        return (
            f"vars.{attribute} is not defined in data.vars",
            did_you_mean(attribute, plan_vars),
        )
    return None


def _find_cycle(start: str, edges: Mapping[str, list[str]]) -> list[str] | None:
    """A dependency cycle through `start`, as the list of ids in order, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, trail = stack.pop()
        for following in edges.get(node, []):
            if following == start and len(trail) > 1:
                return trail
            if following not in seen and following in edges and following != start:
                seen.add(following)
                stack.append((following, [*trail, following]))
    return None


def _display_join(base_display: str, relative: str) -> str:
    return os.path.normpath(os.path.join(os.path.dirname(base_display), relative))


def _yaml_files_under(folder: Path, limit: int = 2000) -> list[str]:
    """Relative paths of YAML files under `folder`, for "did you mean" on a missing file."""
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS]
        for name in files:
            if name.endswith(_YAML_SUFFIXES):
                found.append(os.path.relpath(os.path.join(root, name), folder))
                if len(found) >= limit:
                    return found
    return found


def _sorted(issues: list[PlanIssue], file_order: list[str]) -> list[PlanIssue]:
    """Issues in file order, then line and column; exact duplicates dropped."""

    def key(issue: PlanIssue) -> tuple[int, int, int]:
        position = issue.position
        if position is None:
            return (-1, 0, 0)
        rank = file_order.index(position.file) if position.file in file_order else len(file_order)
        return (rank, position.line, position.column)

    unique: list[PlanIssue] = []
    for issue in issues:
        if issue not in unique:
            unique.append(issue)
    return sorted(unique, key=key)


# --------------------------------------------------------------------------- public API


def load_plan(path: str | Path) -> LoadedPlan:
    """Load, validate and resolve a plan; raise `PlanError` listing every problem found.

    Checks the plan and all included suites against the models, then every reference:
    target, case ids (must_pass, depends_on, waivers, include filters), severity and
    priority levels, included files, template syntax and names, and the manual results file.
    """
    return _PlanLoader(Path(path), str(path)).load()


def document_kind(data: Any) -> str | None:
    """'plan', 'suite' or 'manual_results' from a document's top-level keys, or None."""
    if not isinstance(data, dict):
        return None
    if "targets" in data or "target" in data or "gates" in data:
        return "plan"
    if "suite" in data:
        return "suite"
    if "results" in data and len(data) == 1:
        return "manual_results"
    if "id" in data and "system" in data:
        return "plan"
    return None


DocumentValidator = Callable[[Path], list[PlanIssue]]


def validate_paths(
    paths: Iterable[str | Path],
    *,
    extra_kinds: Mapping[str, DocumentValidator] | None = None,
) -> list[PlanIssue]:
    """Validate plans and suites (or folders of them) as `crmqa validate` does.

    The kind of each file is told from its top-level keys: a plan is loaded fully (includes
    and all); a suite is checked on its own (structure, ids, templates, its own depends_on).
    `extra_kinds` maps a top-level key to a validator for other documents (profiles).
    Returns every issue found; an empty list means all files are valid.
    """
    issues: list[PlanIssue] = []
    for given in paths:
        for file in _expand(Path(given)):
            for issue in _validate_one(file, extra_kinds or {}):
                # a suite validated on its own and through a plan reports the same issue twice
                if issue not in issues:
                    issues.append(issue)
    return issues


def _expand(path: Path) -> list[Path]:
    """A file as is; a folder as the YAML files under it (hidden and tool folders skipped)."""
    if not path.is_dir():
        return [path]
    found: list[Path] = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
        found.extend(Path(root) / name for name in sorted(files) if name.endswith(_YAML_SUFFIXES))
    return found


def _validate_one(path: Path, extra_kinds: Mapping[str, DocumentValidator]) -> list[PlanIssue]:
    display = str(path)
    document = read_yaml(path, display_name=display)
    if document.issues:
        return document.issues
    for key, validator in extra_kinds.items():
        if isinstance(document.data, dict) and key in document.data:
            return validator(path)
    kind = document_kind(document.data)
    if kind == "plan":
        try:
            load_plan(path)
        except PlanError as error:
            return error.issues
        return []
    if kind == "suite":
        return _validate_suite_alone(document, display)
    if kind == "manual_results":
        try:
            load_yaml_model(path, ManualResultsFile, display_name=display)
        except PlanError as error:
            return error.issues
        return []
    if document.data is None:
        return [
            PlanIssue(
                "the file is empty: a plan needs id, name, system, target and targets; "
                "a suite needs suite and cases",
                SourcePosition(display, 1, 1),
            )
        ]
    shape = _document_shape_issue(document, "a plan or suite", _PLAN_KEYS)
    if shape is not None:
        return [shape]
    return [
        document.positions.issue(
            "cannot tell what this file is: a plan has id, name, system, target and targets; "
            "a suite has suite and cases"
        )
    ]


def _validate_suite_alone(document: YamlDocument, display: str) -> list[PlanIssue]:
    """Check one suite without a plan: what can be known without the plan's scales and vars."""
    loader = _PlanLoader(document.path, display)
    suite, issues = _validate_suite(document)
    loader.issues.extend(issues)
    source = _suite_source(document, display, suite, document.path)
    loader._check_case_ids(source.cases)
    for case in source.cases:
        loader._check_templates(
            case.raw, case.positions, prefix=case.path, extra_names=_parameter_names(case.raw)
        )
        loader._check_saved_names(case)
        # depends_on may name cases of other suites, so only a self-dependency is certain here
        for index, name in enumerate(_as_list(case.raw.get("depends_on"))):
            if name == case.id:
                loader.issues.append(
                    case.positions.issue(
                        "a case cannot depend on itself", (*case.path, "depends_on", index)
                    )
                )
    return _sorted(loader.issues, [display])
