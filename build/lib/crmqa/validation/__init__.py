"""One validation before the first request, shared by `crmqa validate`, `crmqa run` and pytest
collection.

It loads everything a run will load: the plan and its suites (crmqa.plan), the target's
profile, its adapter module and screen maps (crmqa.profiles), the data files steps name, and
asks each driver to check its own steps (crmqa.drivers registry). With an environment
(`crmqa run`, collection) it also checks what the target needs from it: the variables behind
the base URL and the credentials of every identity the cases use. Every problem is a
positioned `PlanIssue`; all of them are raised together as one `PlanError` (exit code 3), so
a set-up mistake never reaches the CRM, let alone the verdict.

Public API: `prepare_run(plan, target=..., environment=...) -> PreparedRun`.
"""

from crmqa.validation.run import PreparedRun, prepare_run

__all__ = ["PreparedRun", "prepare_run"]
