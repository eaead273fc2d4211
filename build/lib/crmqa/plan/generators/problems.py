"""A generator's word that its section asks for something it cannot make."""

from __future__ import annotations

from collections.abc import Iterable

from crmqa.plan.issues import did_you_mean
from crmqa.plan.yaml_source import DataPath

__all__ = ["GenerationProblem", "unknown"]


class GenerationProblem(Exception):
    """Raised by a generator; becomes a plan issue at `where` inside its section."""

    def __init__(self, message: str, where: DataPath = (),
                 suggestion: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.suggestion = suggestion


def unknown(what: str, name: str, known: Iterable[str], where: DataPath) -> GenerationProblem:
    """`unknown identity 'salse' (known: ...)` with a "did you mean"."""
    choices = list(known)
    listed = ", ".join(choices) if choices else "none"
    return GenerationProblem(f"unknown {what} '{name}' (known: {listed})", where,
                             did_you_mean(name, choices))
