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
whole step. Read-only: only safe methods (GET, HEAD) are fuzzed, so the step may run beside
other cases and on a target that forbids changes; the document is read from the target and
every request goes to the target's base URL (never a server the document names, never a
redirect to another host).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from crmqa.plan.steps import StepBase, Strict

SafeMethod = Literal["GET", "HEAD"]


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
    methods: list[SafeMethod] = Field(
        default_factory=lambda: list[SafeMethod](["GET"]), min_length=1,
        description="methods to fuzz: safe ones only, so that fuzzing changes no record")
    max_examples: int = Field(25, ge=1, le=1000,
                              description="generated requests per operation, at most")
    max_seconds: float = Field(60, gt=0, le=1800,
                               description="time bound of the whole step, in seconds")
    seed: int | None = Field(
        0, description="seed of the generator: the same requests on every run (null: random)")
    max_failures: int = Field(5, ge=1, le=100,
                              description="stop after this many operations answered 5xx")


class FuzzStep(StepBase):
    """Fuzz the target's OpenAPI; fail on any 5xx answer (see crmqa.fuzzing)."""

    fuzz: FuzzSpec = Field(description="the OpenAPI document and the bounds")

    def describe(self) -> str:
        return f"fuzz {self.fuzz.openapi}"

    def surfaces(self) -> set[str]:
        """Where fuzzing looks (crmqa calibrate pairs it with the faults that touch it):
        raw requests to any operation of the API."""
        return {"http"}
