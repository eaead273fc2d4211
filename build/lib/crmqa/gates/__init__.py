"""Acceptance gates: pass rates, highest open severity, must-pass cases, suspension -> verdict.

See docs/gates.md for every rule and formula.
"""

from crmqa.gates.evaluate import (
    CATEGORY_ORDER,
    GateConfigError,
    evaluate,
    required_pass_rate,
    waiver_active,
)
from crmqa.gates.verdict import (
    EXIT_CODES,
    Decision,
    GateKind,
    GateResult,
    OpenDefect,
    Verdict,
    Withheld,
    WithheldKind,
)

__all__ = [
    "CATEGORY_ORDER",
    "EXIT_CODES",
    "Decision",
    "GateConfigError",
    "GateKind",
    "GateResult",
    "OpenDefect",
    "Verdict",
    "Withheld",
    "WithheldKind",
    "evaluate",
    "required_pass_rate",
    "waiver_active",
]
