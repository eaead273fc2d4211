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

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from crmqa.core.errors import PlanError
from crmqa.core.errors import PlanIssue as _Issue

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
    """Instantiate the profile's adapter class, with a clear error when it cannot be found."""
    if not profile.adapter:
        return None
    module_name, _, class_name = profile.adapter.partition(":")
    try:
        module = importlib.import_module(module_name)
        adapter_cls = getattr(module, class_name)
    except (ImportError, AttributeError) as exc:
        raise PlanError(
            [_Issue(f"profile {profile.name!r}: adapter {profile.adapter!r} "
                    f"cannot be loaded: {exc}")]
        ) from exc
    if not (isinstance(adapter_cls, type) and issubclass(adapter_cls, ProfileAdapter)):
        raise PlanError(
            [_Issue(f"profile {profile.name!r}: adapter {profile.adapter!r} is not a "
                    "subclass of crmqa.profiles.adapter.ProfileAdapter")]
        )
    return adapter_cls(profile)
