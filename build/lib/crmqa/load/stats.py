"""Load statistics: what the Locust process records each second, and how it adds up.

The Locust process that keeps the totals (the master, or the only process) writes one JSON
line a second to `timeline.jsonl`: the phase, the users running, and per request name what
happened in that second (count, failures, a response-time histogram with Locust's rounding,
and the slowest response so far). Everything is judged from this one timeline, by the same
code in both processes: abort-on-fail and the capacity search inside Locust, the SLOs,
capacity, recovery, charts and the live progress in crmqa. Locust's own CSV, JSON and HTML
files are kept beside it as evidence.

Pure Python: imported by the gevent process and by crmqa alike.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The request type of logins: counted and shown, judged only by an SLO that names them.
AUTH_TYPE = "auth"


def rounded_ms(value: float) -> int:
    """A response time as Locust keys its histogram: 2 significant digits above 100 ms."""
    if value < 100:
        return round(value)
    if value < 1000:
        return int(round(value, -1))
    if value < 10000:
        return int(round(value, -2))
    return int(round(value, -3))


@dataclass
class Tally:
    """Requests of some names over some seconds: counts, histogram, slowest, duration."""

    requests: int = 0
    failures: int = 0
    histogram: Counter[int] = field(default_factory=Counter)
    total_ms: float = 0.0
    max_ms: float = 0.0
    seconds: float = 0.0

    def add(self, other: Tally) -> None:
        """Fold `other` in (its seconds are the same seconds: not added).

        A second records the slowest response so far only when it raised it; otherwise the
        top bucket of its histogram stands in for its own slowest (Locust's rounding).
        """
        self.requests += other.requests
        self.failures += other.failures
        self.histogram.update(other.histogram)
        self.total_ms += other.total_ms
        self.max_ms = max(self.max_ms, other.max_ms, float(max(other.histogram, default=0)))

    def percentile(self, share: float) -> float:
        """Locust's percentile: the smallest bucket with at most (1 - share) above it."""
        if self.requests <= 0:
            return 0.0
        wanted = int(self.requests * share)
        seen = 0
        for value in sorted(self.histogram, reverse=True):
            seen += self.histogram[value]
            if self.requests - seen <= wanted:
                return float(value)
        return 0.0

    @property
    def error_rate_pct(self) -> float:
        return 100.0 * self.failures / self.requests if self.requests else 0.0

    @property
    def avg_ms(self) -> float:
        return self.total_ms / self.requests if self.requests else 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Second:
    """One line of the timeline: one second of the run."""

    t: float  # seconds since the load started
    phase: str  # "load", "step <n>", "recovery"
    users: int
    entries: dict[tuple[str, str], Tally]  # (request type, name) -> that second's requests

    def to_json(self) -> str:
        return json.dumps({
            "t": round(self.t, 3), "phase": self.phase, "users": self.users,
            "entries": [
                {"type": kind, "name": name, "n": tally.requests, "f": tally.failures,
                 "rt": {str(k): v for k, v in tally.histogram.items()},
                 "sum": round(tally.total_ms, 3), "max": round(tally.max_ms, 3)}
                for (kind, name), tally in self.entries.items()
            ],
        }, ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> Second:
        data = json.loads(line)
        entries = {}
        for item in data.get("entries", []):
            entries[(str(item["type"]), str(item["name"]))] = Tally(
                requests=int(item["n"]), failures=int(item["f"]),
                histogram=Counter({int(k): int(v) for k, v in item["rt"].items()}),
                total_ms=float(item.get("sum", 0.0)), max_ms=float(item.get("max", 0.0)))
        return cls(t=float(data["t"]), phase=str(data["phase"]), users=int(data["users"]),
                   entries=entries)


def read_timeline(path: Path) -> list[Second]:
    """Every complete line of a timeline file (a line being written is left out)."""
    if not path.exists():
        return []
    seconds = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.endswith("\n"):
                seconds.append(Second.from_json(line))
    return seconds


@dataclass(frozen=True)
class Scope:
    """Which requests a figure or an SLO covers: an operation, a scenario, both or neither."""

    operation: str | None = None
    scenario: str | None = None

    def covers(self, kind: str, name: str) -> bool:
        if self.operation is not None and name != self.operation:
            return False
        if self.scenario is not None:
            return kind == self.scenario
        # Logins are judged only by a scope that names them.
        return kind != AUTH_TYPE or self.operation is not None


def tally(seconds: Iterable[Second], scope: Scope = Scope()) -> Tally:
    """All requests of `scope` in `seconds`; its duration is the seconds' span."""
    total = Tally()
    first: float | None = None
    last = 0.0
    for second in seconds:
        if first is None:
            first = second.t
        last = second.t
        for (kind, name), part in second.entries.items():
            if scope.covers(kind, name):
                total.add(part)
    # Each line closes one second of load: n lines cover about n seconds.
    total.seconds = 0.0 if first is None else last - first + 1.0
    return total


def names_seen(seconds: Iterable[Second]) -> dict[tuple[str, str], None]:
    """Every (request type, name) of the timeline, in the order first seen."""
    seen: dict[tuple[str, str], None] = {}
    for second in seconds:
        for key in second.entries:
            seen.setdefault(key, None)
    return seen


def peak_users(seconds: Iterable[Second]) -> int:
    """The most users that ran at once."""
    return max((second.users for second in seconds), default=0)


def phases(seconds: list[Second]) -> Iterator[tuple[str, list[Second]]]:
    """Consecutive runs of seconds of one phase, in order."""
    current: list[Second] = []
    for second in seconds:
        if current and second.phase != current[0].phase:
            yield current[0].phase, current
            current = []
        current.append(second)
    if current:
        yield current[0].phase, current


# --------------------------------------------------------------------------- snapshots


def delta_second(t: float, phase: str, users: int, now: Mapping[tuple[str, str], Any],
                 before: Mapping[tuple[str, str], Any]) -> Second:
    """One second from two cumulative snapshots of Locust's stats entries.

    A snapshot maps (type, name) to (requests, failures, histogram, total_ms, max_ms), all
    cumulative since the start.
    """
    entries: dict[tuple[str, str], Tally] = {}
    for key, (requests, failures, histogram, total_ms, max_ms) in now.items():
        old = before.get(key)
        if old is None:
            delta = Tally(requests, failures, Counter(histogram), total_ms, max_ms)
        else:
            if requests == old[0] and failures == old[1]:
                continue
            moved: Counter[int] = Counter()
            old_histogram = old[2]
            for bucket, count in histogram.items():
                grown = count - old_histogram.get(bucket, 0)
                if grown > 0:
                    moved[bucket] = grown
            delta = Tally(requests - old[0], failures - old[1], moved, total_ms - old[3],
                          max_ms if max_ms > old[4] else 0.0)
        if delta.requests or delta.failures:
            entries[key] = delta
    return Second(t=t, phase=phase, users=users, entries=entries)

