"""The engine: runs one case of a loaded plan (render, drive, check, save, clean up).

Public API: `Engine(loaded_plan, target_name, run_dir, worker_id, reporter=None,
outcome_of=None, *, evidence="retain-on-failure")`, `Engine.run_case(case, params)`,
`Engine.close()`, the `Reporter` protocol, and `history_id(plan_id, case_id, params)`.
"""

from crmqa.engine.engine import Engine, history_id, step_title
from crmqa.engine.reporter import NullReporter, RecordingReporter, Reporter

__all__ = ["Engine", "NullReporter", "RecordingReporter", "Reporter", "history_id", "step_title"]
