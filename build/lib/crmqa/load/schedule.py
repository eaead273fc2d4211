"""The load's schedule: which users, at which spawn rate, in which phase, second by second.

Pure Python (no gevent): the shape inside Locust calls `shape_tick` every second; the same
rules are tested without Locust. `Control` is what the shape, the monitor and the listeners
of the leading Locust process share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from crmqa.load.model import ConstantShape, LoadSpec, StagedShape, StepRampShape
from crmqa.load.stats import Second


@dataclass
class Stage:
    """One piece of the schedule: until `end_s`, hold `users` started at `rate` per second."""

    end_s: float
    users: int
    rate: float
    phase: str


@dataclass
class Control:
    """What the shape, the monitor and the listeners share in the process that leads."""

    spec: LoadSpec
    out_dir: Path
    phase: str = "load"
    stopped_by: str | None = None  # why the load ended early (abort, capacity, a problem)
    capacity_over: bool = False  # a step of the capacity search broke an SLO
    recovery_from: float | None = None
    seconds: list[Second] = field(default_factory=list)
    parent_pid: int | None = None  # crmqa's process: the load stops by itself if it goes

    def schedule(self) -> list[Stage]:
        """The stages of the load, in order, each users capped by `limits.max_users`."""
        spec = self.spec
        cap = spec.limits.max_users
        shape = spec.shape
        stages: list[Stage] = []
        if isinstance(shape, ConstantShape):
            users = min(shape.users, cap)
            stages.append(Stage(shape.duration_s, users, shape.spawn_rate or float(users),
                                "load"))
        elif isinstance(shape, StagedShape):
            elapsed, previous = 0.0, 0
            for stage in shape.stages:
                elapsed += stage.duration_s
                users = min(stage.users, cap)
                rate = max(abs(users - previous) / stage.duration_s, 0.1)
                stages.append(Stage(elapsed, users, rate, "load"))
                previous = users
        elif isinstance(shape, StepRampShape):
            for step in range(shape.step_count):
                users = min(shape.users_at(step), cap)
                rate = shape.spawn_rate or float(max(shape.step_users, 1))
                stages.append(Stage((step + 1) * shape.step_s, users, rate, f"step {step + 1}"))
        return stages


def shape_tick(control: Control, run_time: float) -> tuple[int, float] | None:
    """Users and spawn rate now, or None when the load is over (Locust's shape `tick`)."""
    spec = control.spec
    if control.stopped_by is not None or run_time >= spec.limits.max_duration_s:
        return None
    recovery = spec.recovery
    watching = recovery is not None and recovery.within_s is not None
    for stage in control.schedule():
        if control.capacity_over:
            break
        if run_time < stage.end_s:
            control.phase = stage.phase
            return stage.users, stage.rate
    if not watching:
        return None
    assert recovery is not None and recovery.within_s is not None
    if control.recovery_from is None:
        control.recovery_from = run_time
    if run_time - control.recovery_from >= recovery.within_s:
        return None
    control.phase = "recovery"
    users = min(recovery.users, spec.limits.max_users)
    return users, float(max(spec.peak_users(), users))
