"""The extension point for products a declarative profile cannot describe (JSON-RPC, SOAP).

Declarative mapping stays the general mechanism. A profile names an adapter with
`adapter: "package.module:ClassName"`; the API driver builds one per session and asks it to
perform each canonical operation first. The adapter answers an `OperationResult`, or `None` to
let the declarative mapping handle that operation (so an adapter may cover only `lead.convert`).

The adapter speaks HTTP through `AdapterHttp`, which the driver provides: it carries the
identity's authentication, timeouts, redaction, evidence and events, so an adapter never
handles secrets or evidence itself.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from crmqa.core.errors import PlanError

if TYPE_CHECKING:
    import requests

    from crmqa.profiles.models import Profile


@dataclass
class OperationCall:
    """One canonical operation to perform: `lead.create` with its (rendered) arguments."""

    entity: str
    operation: str
    args: dict[str, Any]
    identity: str


@dataclass
class OperationResult:
    """What a canonical operation did, in canonical terms (records use canonical fields)."""

    outcome: str
    status: int | None = None
    record: dict[str, Any] | None = None
    records: list[dict[str, Any]] | None = None
    total: int | None = None
    field_errors: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # imported, ids, rejected, content...
    created_ids: list[Any] = field(default_factory=list)  # the engine deletes these afterwards


class AdapterHttp(Protocol):
    """HTTP as the driver offers it to an adapter (authenticated for the call's identity)."""

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """Send one request; raises `EnvironmentProblem` when the CRM cannot be reached."""
        ...


class ProfileAdapter:
    """Base class for adapters. Subclass it and override `perform`."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def perform(self, call: OperationCall, http: AdapterHttp) -> OperationResult | None:
        """Perform `call`, or return None to use the profile's declarative mapping."""
        return None


def load_adapter(profile: Profile) -> ProfileAdapter | None:
    """Import the profile's adapter class and build it; a problem is a `PlanError`.

    `adapter: "module.path:ClassName"` names a module file next to the profile
    (`<profile folder>/module/path.py`) or, failing that, an importable module. Every problem
    (the module is missing, does not import, raises while importing, lacks the class, the class
    is not a `ProfileAdapter`, or its constructor fails) is reported at the profile's `adapter`
    key, with the place in the adapter's own code where it happened.
    """
    if not profile.adapter:
        return None
    module_name, _, class_name = profile.adapter.partition(":")
    try:
        module = _import(module_name, profile.source_path)
    except Exception as exc:
        raise _adapter_error(profile, f"cannot be imported: {_describe(exc)}") from None
    adapter_cls = getattr(module, class_name, None)
    if adapter_cls is None:
        classes = [name for name, value in vars(module).items() if isinstance(value, type)
                   and issubclass(value, ProfileAdapter) and value is not ProfileAdapter]
        close = difflib.get_close_matches(class_name, classes, n=1)
        raise _adapter_error(
            profile, f"module {module_name!r} has no class {class_name!r}",
            f"did you mean {close[0]!r}?" if close else None,
        )
    if not (isinstance(adapter_cls, type) and issubclass(adapter_cls, ProfileAdapter)):
        raise _adapter_error(
            profile, f"{class_name!r} is not a subclass of "
            "crmqa.profiles.adapter.ProfileAdapter"
        )
    try:
        return adapter_cls(profile)
    except Exception as exc:
        raise _adapter_error(profile, f"{class_name}(profile) failed: {_describe(exc)}") from None


def _import(module_name: str, profile_path: Path | None) -> ModuleType:
    """The adapter module: a file next to the profile first, then the import path."""
    if profile_path is not None:
        candidate = profile_path.parent.joinpath(*module_name.split(".")).with_suffix(".py")
        if candidate.is_file():
            # A name of its own per file, so that two profiles' `adapter.py` never collide.
            unique = "crmqa_adapter_" + hashlib.sha256(
                str(candidate.resolve()).encode()).hexdigest()[:12]
            loaded = sys.modules.get(unique)
            if loaded is not None:
                return loaded
            spec = importlib.util.spec_from_file_location(unique, candidate)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[unique]
                raise
            return module
    return importlib.import_module(module_name)


def _describe(exc: BaseException) -> str:
    """`NameError: name 'x' is not defined (at adapters/mycrm.py:12)`: what and where."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{type(exc).__name__}: {exc.msg} (at {exc.filename}:{exc.lineno})"
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if "importlib" not in frame.filename and frame.filename != __file__]
    if frames:
        last = frames[-1]
        text += f" (at {last.filename}:{last.lineno})"
    return text


def _adapter_error(profile: Profile, problem: str, suggestion: str | None = None) -> PlanError:
    return PlanError([profile.issue(f"adapter {profile.adapter!r} {problem}", ("adapter",),
                                    suggestion=suggestion)])
