"""Judging SLOs over seconds of the timeline: one verdict per threshold, k6-style.

The same functions decide inside Locust (abort on fail, the end of a capacity search) and in
crmqa (the case's checks, capacity and recovery), so the two can never disagree.
Pure Python: no Locust, no HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crmqa.load.model import LATENCY_KEYS, Slo
from crmqa.load.stats import Scope, Second, Tally, peak_users, tally

#: Thresholds that can be lost before the run ends (abort_on_fail judges only these).
ABORTABLE: tuple[str, ...] = (*LATENCY_KEYS, "error_rate_pct")
#: Fewest requests an abort-on-fail threshold is judged on.
ABORT_MIN_REQUESTS = 10

_LABELS = {
    "p50_ms": "p50", "p90_ms": "p90", "p95_ms": "p95", "p99_ms": "p99", "avg_ms": "mean",
    "max_ms": "max", "error_rate_pct": "error rate", "min_rps": "throughput",
    "users_held": "users held",
}


@dataclass(frozen=True)
class Judgement:
    """One threshold of one SLO over some seconds: what was asked, what was seen."""

    slo_index: int
    key: str
    scope: str
    required: float
    actual: float | None  # None: no request of the scope completed
    ok: bool
    requests: int

    @property
    def name(self) -> str:
        """`p95 lead.search`, `error rate all requests`."""
        return f"{_LABELS[self.key]} {self.scope}"

    def required_text(self) -> str:
        return f"{'≥' if self.key in ('min_rps', 'users_held') else '≤'} " + _value(
            self.key, self.required)

    def actual_text(self) -> str:
        if self.actual is None:
            return "no request completed"
        return _value(self.key, self.actual)

    def message(self) -> str:
        """`p95 of lead.search is 812 ms, above the SLO of 500 ms (1,204 requests)`."""
        label = _LABELS[self.key]
        if self.actual is None:
            return f"no {self.scope} request completed, so its {label} cannot be judged"
        if self.key == "users_held":
            return (f"{self.actual:g} users ran at most, fewer than the {self.required:g} the "
                    "SLO asks to hold")
        word = "below" if self.key == "min_rps" else "above"
        return (f"{label} of {self.scope} is {self.actual_text()}, {word} the SLO of "
                f"{_value(self.key, self.required)} ({self.requests:,} requests)")


def _value(key: str, value: float) -> str:
    if key == "error_rate_pct":
        return f"{value:.2f}%"
    if key == "min_rps":
        return f"{value:.1f} req/s"
    if key == "users_held":
        return f"{value:g} users"
    return f"{value:.0f} ms"


def measure(key: str, figures: Tally, users: int) -> float:
    """The value of one threshold's measure over `figures`."""
    if key == "users_held":
        return float(users)
    if key == "error_rate_pct":
        return figures.error_rate_pct
    if key == "min_rps":
        return figures.rps
    if key == "avg_ms":
        return figures.avg_ms
    if key == "max_ms":
        return figures.max_ms
    return figures.percentile(int(key[1:3]) / 100)


def holds(key: str, actual: float, required: float) -> bool:
    """True when `actual` meets the threshold."""
    if key in ("min_rps", "users_held"):
        return actual >= required
    return actual <= required


def judge(slos: Sequence[Slo], seconds: Sequence[Second], *,
          keys: Sequence[str] | None = None) -> list[Judgement]:
    """Every threshold of every SLO (or only `keys`) over `seconds`."""
    users = peak_users(seconds)
    found: list[Judgement] = []
    for index, slo in enumerate(slos):
        figures = tally(seconds, Scope(slo.operation, slo.scenario))
        for key, required in slo.thresholds():
            if keys is not None and key not in keys:
                continue
            if figures.requests == 0 and key != "users_held":
                found.append(Judgement(index, key, slo.scope(), required, None, False, 0))
                continue
            actual = measure(key, figures, users)
            found.append(Judgement(index, key, slo.scope(), required, actual,
                                   holds(key, actual, required), figures.requests))
    return found


def abort_reason(slos: Sequence[Slo], seconds: Sequence[Second], elapsed_s: float) -> str | None:
    """Why the load must stop now (an abort_on_fail threshold already lost), or None."""
    for index, slo in enumerate(slos):
        if not slo.abort_on_fail or elapsed_s < slo.abort_after_s:
            continue
        figures = tally(seconds, Scope(slo.operation, slo.scenario))
        if figures.requests < ABORT_MIN_REQUESTS:
            continue
        for judgement in judge([slo], seconds, keys=ABORTABLE):
            if not judgement.ok:
                return f"slo {index + 1}: {judgement.message()}"
    return None


def window_ok(slos: Sequence[Slo], seconds: Sequence[Second]) -> list[Judgement]:
    """The response-time and error-rate thresholds a window of seconds breaks (empty: kept).

    Capacity steps and the recovery watch are judged on these: throughput and users held
    depend on how many users the window had, not on how well the CRM served them.
    """
    return [j for j in judge(slos, seconds, keys=ABORTABLE) if not j.ok]
