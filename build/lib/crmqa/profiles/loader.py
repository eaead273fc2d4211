"""Load target profiles: a built-in name (`sandbox`) or a path to a profile YAML.

Errors are `PlanError`s with `file:line:col` positions (through the plan loader's
`load_yaml_model` when it is available), never tracebacks.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from crmqa.core.errors import PlanError, PlanIssue
from crmqa.profiles.checks import profile_issues
from crmqa.profiles.models import Profile

BUILTIN_DIR = Path(__file__).parent / "builtin"


def builtin_profiles() -> list[str]:
    """Names of the profiles shipped with crmqa."""
    return sorted(path.stem for path in BUILTIN_DIR.glob("*.yaml"))


def load_profile(path: Path) -> Profile:
    """Load and validate one profile file; raises PlanError with every issue found."""
    if not path.is_file():
        raise PlanError([PlanIssue(f"profile file {path} does not exist")])
    try:
        from crmqa.plan.loader import load_yaml_model  # positioned errors, when available
    except ImportError:
        return _load_plain(path)
    profile, positions = load_yaml_model(path, Profile, what="a profile")
    profile.located(path, positions)
    issues = profile_issues(profile)
    if issues:
        raise PlanError(issues)
    return profile


def _load_plain(path: Path) -> Profile:
    """Fallback loader without positions (used only if the plan loader is missing)."""
    try:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PlanError([PlanIssue(f"{path}: not valid YAML: {exc}")]) from None
    if not isinstance(document, dict):
        raise PlanError([PlanIssue(f"{path}: a profile is a mapping of keys")])
    try:
        profile = Profile.model_validate(document)
    except ValidationError as exc:
        issues = [
            PlanIssue(f"{path}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}")
            for err in exc.errors()
        ]
        raise PlanError(issues) from None
    problems = profile_issues(profile)
    if problems:
        raise PlanError(problems)
    return profile


@lru_cache(maxsize=64)
def _cached(path: Path, mtime_ns: int) -> Profile:
    return load_profile(path)


def resolve_profile(name_or_path: str, base_dir: Path | str = ".") -> Profile:
    """A built-in profile by name (`sandbox`) or a profile YAML path relative to `base_dir`.

    Loaded profiles are cached by path and modification time, so resolving the same profile
    for every case costs nothing.
    """
    text = name_or_path.strip()
    looks_like_path = text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text
    if not looks_like_path:
        builtin = BUILTIN_DIR / f"{text}.yaml"
        if builtin.is_file():
            return _cached(builtin, builtin.stat().st_mtime_ns)
        names = builtin_profiles()
        close = difflib.get_close_matches(text, names, n=1)
        raise PlanError([PlanIssue(
            f"unknown profile {text!r}: not a built-in profile ({', '.join(names)}) "
            "and not a .yaml path",
            suggestion=f"did you mean {close[0]!r}?" if close else None,
        )])
    path = Path(text)
    if not path.is_absolute():
        path = Path(base_dir) / path
    path = path.resolve()
    if not path.is_file():
        raise PlanError([PlanIssue(f"profile file {path} does not exist")])
    return _cached(path, path.stat().st_mtime_ns)
