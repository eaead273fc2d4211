"""Generated test design: plug-ins that turn what a plan declares into ordinary cases.

See `registry` for the plug-in contract, `expand` for how cases enter a loaded plan, and
docs/test-design.md for what each built-in generator reads and makes.
"""

from crmqa.plan.generators.context import FieldView, GenerationContext
from crmqa.plan.generators.problems import GenerationProblem
from crmqa.plan.generators.registry import (
    Generator,
    SectionBase,
    register_generator,
    registered_generators,
)

__all__ = [
    "FieldView",
    "GenerationContext",
    "GenerationProblem",
    "Generator",
    "SectionBase",
    "register_generator",
    "registered_generators",
]
