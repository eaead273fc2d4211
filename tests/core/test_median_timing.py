"""The one rule for a timing that missed its budget: measured again, judged by the median."""

from __future__ import annotations

from crmqa.core.timing import TIMING_SAMPLES, Samples, measure_again


def test_a_timing_is_taken_up_to_three_times_and_judged_by_the_median() -> None:
    more = iter([20.0, 25.0, 999.0])
    samples = measure_again(400.0, lambda: next(more))
    assert samples.values == (400.0, 20.0, 25.0) and TIMING_SAMPLES == 3
    assert samples.median == 25.0 and samples.repeated
    assert samples.note() == "(the median of 3 tries: 400, 20, 25 ms)"
    assert Samples((5.123, 0.4, 0.35), "s").note() == "(the median of 3 tries: 5.12, 0.4, 0.35 s)"


def test_a_measurement_that_cannot_be_taken_again_ends_the_tries() -> None:
    asked: list[int] = []

    def gone() -> float | None:
        asked.append(1)
        return None

    samples = measure_again(2840.0, gone)
    assert samples.values == (2840.0,) and not samples.repeated and len(asked) == 1
    assert samples.median == 2840.0
