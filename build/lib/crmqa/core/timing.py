"""One rule for a time measured against a budget on a test machine that may be busy.

One measurement on a loaded machine is noisy: a timing that missed its budget, when nothing
else failed and measuring it again changes no records, is measured again up to
`TIMING_SAMPLES` times in all and judged by the median. A moment of load on the test machine
is then not taken for a slow CRM, while a CRM that is slow every time still fails, and the
failure lists every sample. Callers decide what may be repeated: the engine a read's
response time, the UI driver a screen's page timings, a read-only task's time and the
feedback after a change that writes nothing (docs/test-design.md).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

# How many times in all a timing that missed its budget is measured (the median decides).
TIMING_SAMPLES = 3


@dataclass(frozen=True)
class Samples:
    """The times one measurement took, the first one first, in `unit` (ms or s)."""

    values: tuple[float, ...]
    unit: str = "ms"

    @property
    def median(self) -> float:
        """What the measurement is judged by."""
        return float(statistics.median(self.values))

    @property
    def repeated(self) -> bool:
        return len(self.values) > 1

    def shown(self) -> str:
        """The samples as a reader sees them: `400, 20, 25 ms`."""
        if self.unit == "ms":
            text = ", ".join(f"{value:.0f}" for value in self.values)
        else:
            text = ", ".join(f"{round(value, 2):g}" for value in self.values)
        return f"{text} {self.unit}".rstrip()

    def note(self) -> str:
        """What a failure message adds: `(the median of 3 tries: 400, 20, 25 ms)`."""
        return f"(the median of {len(self.values)} tries: {self.shown()})"


def measure_again(first: float, again: Callable[[], float | None], unit: str = "ms") -> Samples:
    """`first` and up to `TIMING_SAMPLES - 1` more measurements taken by `again`.

    `again` returns None when the measurement could not be taken this time (the page went
    away, the browser gave no such entry); the tries stop there and the samples so far decide.
    """
    values = [first]
    for _ in range(TIMING_SAMPLES - 1):
        value = again()
        if value is None:
            break
        values.append(value)
    return Samples(tuple(values), unit)
