"""The `fuzz:` step: robustness fuzzing of the target's published OpenAPI with Schemathesis.

```yaml
- id: SEC-FUZZ-001
  title: No input to the read-only API makes the CRM answer with a server error
  category: security
  steps:
    - fuzz: {openapi: /openapi.json, max_examples: 25, max_seconds: 60}
```

For every operation the document describes (narrowed by `include`/`exclude`), Schemathesis
generates requests from the declared parameters, valid and invalid; crmqa sends them to the
target, as the step's identity, and a 5xx answer to any of them is a defect, with the request
that reproduces it as evidence. Bounded: `max_examples` per operation and `max_seconds` for the
whole step. The document is read from the target and every request goes to the target's base
URL (never a server the document names, never a redirect to another host).

By default only safe methods (GET, HEAD) are fuzzed, so the step may run beside other cases
and on a target that forbids changes. With write methods in `methods` (POST, PUT, PATCH,
DELETE) the step changes records, so its target needs `destructive_ok`; then only the writes
the target's profile maps to canonical operations (each entity's create, update, delete and
convert) are fuzzed, writes to existing records reach only records the step created itself,
and every record a fuzzed write created is deleted when the case ends (crmqa.fuzzing.driver).

Besides server errors, `checks` may ask whether answers conform to the schema the document
declares for them (`schema`) and whether invalid input (Schemathesis' negative examples) is
refused (`invalid_accepted`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from crmqa.plan.steps import StepBase, Strict

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
#: Methods that change records: fuzzing them needs a target with `destructive_ok`.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: What a fuzz step looks for: 5xx answers, answers that do not conform to the declared
#: schema, and invalid input the target accepted (a 2xx answer to a negative example).
FuzzCheck = Literal["server_errors", "schema", "invalid_accepted"]


class FuzzSpec(Strict):
    """What to fuzz and how long."""

    openapi: str = Field(
        "/openapi.json",
        description="path of the OpenAPI document on the target (read from the target only)")
    include: list[str] = Field(
        default_factory=list,
        description="only operations whose path matches one of these glob patterns "
        "(/api/leads*); default: every operation")
    exclude: list[str] = Field(
        default_factory=list, description="leave out operations whose path matches these")
    methods: list[Method] = Field(
        default_factory=lambda: list[Method](["GET"]), min_length=1,
        description="methods to fuzz; write methods (POST, PUT, PATCH, DELETE) change records "
        "(the target needs destructive_ok) and reach only the writes the profile maps")
    checks: list[FuzzCheck] = Field(
        default_factory=lambda: list[FuzzCheck](["server_errors"]), min_length=1,
        description="what is a finding: server_errors (5xx), schema (an answer that does not "
        "conform to the schema the document declares), invalid_accepted (a 2xx answer to "
        "invalid input)")
    records: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="entity -> a valid record (canonical fields) made through the profile's "
        "create before the writes are fuzzed, so that updates, deletions and conversions "
        "have a record of the step's own to reach even when no generated create succeeds")
    max_examples: int = Field(25, ge=1, le=1000,
                              description="generated requests per operation, at most")
    max_seconds: float = Field(60, gt=0, le=1800,
                               description="time bound of the whole step, in seconds")
    seed: int | None = Field(
        0, description="seed of the generator: the same requests on every run (null: random)")
    max_failures: int = Field(5, ge=1, le=100,
                              description="stop after this many operations had a finding")


class FuzzStep(StepBase):
    """Fuzz the target's OpenAPI; fail on a finding of the step's `checks` (crmqa.fuzzing)."""

    fuzz: FuzzSpec = Field(description="the OpenAPI document and the bounds")

    def describe(self) -> str:
        return f"fuzz {self.fuzz.openapi}"

    def changes_records(self) -> bool:
        """Fuzzing a write method changes records (crmqa.plan.effects): `destructive_ok`."""
        return any(method in WRITE_METHODS for method in self.fuzz.methods)

    def surfaces(self) -> set[str]:
        """Where fuzzing looks (crmqa calibrate pairs it with the faults that touch it):
        raw requests to any operation of the API."""
        return {"http"}
