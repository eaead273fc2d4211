"""Charts of a load for managers: response-time percentiles, throughput and users over time.

One PNG with three panels sharing the time axis, drawn with matplotlib (Agg, no display)
from the timeline, with the SLO lines and the phases (capacity steps, recovery) marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from crmqa.load.model import Slo
from crmqa.load.stats import Scope, Second, tally


class ChartsUnavailable(Exception):
    """matplotlib is not installed: the load is judged all the same, without pictures."""


def draw_load_chart(seconds: Sequence[Second], slos: Sequence[Slo], path: Path,
                    title: str) -> Path:
    """Draw the timeline into `path` (PNG); raises ChartsUnavailable without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ChartsUnavailable(f"charts need matplotlib ({exc})") from None

    times = [second.t for second in seconds]
    everything = Scope()
    per_second = [tally([second], everything) for second in seconds]
    p50 = [figures.percentile(0.50) if figures.requests else None for figures in per_second]
    p95 = [figures.percentile(0.95) if figures.requests else None for figures in per_second]
    p99 = [figures.percentile(0.99) if figures.requests else None for figures in per_second]
    rps = [float(figures.requests) for figures in per_second]
    fails = [float(figures.failures) for figures in per_second]
    users = [second.users for second in seconds]

    figure, (latency, throughput, crowd) = plt.subplots(
        3, 1, figsize=(10, 8.2), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1.4]})
    figure.suptitle(title, fontsize=11)
    latency.plot(times, p50, label="p50", color="#4c78a8", linewidth=1.4)
    latency.plot(times, p95, label="p95", color="#f58518", linewidth=1.6)
    latency.plot(times, p99, label="p99", color="#e45756", linewidth=1.2, alpha=0.8)
    for slo in slos:
        for key, value in slo.thresholds():
            if key in ("p95_ms", "p99_ms", "p50_ms", "p90_ms") and slo.operation is None \
                    and slo.scenario is None:
                latency.axhline(value, color="#e45756" if key == "p99_ms" else "#f58518",
                                linestyle="--", linewidth=1, alpha=0.7)
                latency.annotate(f"SLO {key[:3]} {value:g} ms", (times[0] if times else 0,
                                 value), fontsize=7, va="bottom", color="#555555")
    latency.set_ylabel("response time (ms)")
    latency.legend(loc="upper left", fontsize=8)
    latency.grid(alpha=0.3)

    throughput.plot(times, rps, label="requests/s", color="#54a24b", linewidth=1.4)
    throughput.plot(times, fails, label="failures/s", color="#e45756", linewidth=1.2)
    throughput.set_ylabel("per second")
    throughput.legend(loc="upper left", fontsize=8)
    throughput.grid(alpha=0.3)

    crowd.step(times, users, where="post", color="#72b7b2", linewidth=1.6)
    crowd.fill_between(times, users, step="post", color="#72b7b2", alpha=0.25)
    crowd.set_ylabel("users")
    crowd.set_xlabel("seconds since the load started")
    crowd.grid(alpha=0.3)

    _mark_phases(seconds, (latency, throughput, crowd))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _mark_phases(seconds: Sequence[Second], axes: Sequence[object]) -> None:
    """A dotted line where each phase starts, labelled on the users panel."""
    previous = None
    for second in seconds:
        if second.phase != previous and previous is not None:
            for axis in axes:
                axis.axvline(second.t, color="#888888", linestyle=":", linewidth=0.8)  # type: ignore[attr-defined]
            axes[-1].annotate(second.phase, (second.t, 0), fontsize=7, color="#555555",  # type: ignore[attr-defined]
                              xytext=(2, 2), textcoords="offset points")
        previous = second.phase
