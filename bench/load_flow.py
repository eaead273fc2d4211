"""crmqa's own CPU per load step, with the HTTP answer canned: the part of a load generator's
cost that crmqa's code (not Locust, not the network) decides. Run by bench/load.py; prints
microseconds of CPU per step (best of several rounds).

The same step as bench/load.py's load (`op: lead.get` through the sandbox profile) runs
through the flow runner a Locust process uses, over a session whose HTTP agent answers at
once with a typical lead.

    .venv/bin/python bench/load_flow.py
"""

# Locust (and so gevent's monkey-patching) first, as in a generated locustfile.
from crmqa.load.runtime.flows import CompiledStep, FlowRunner  # isort: skip

import json
import time
import timeit
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from crmqa.drivers.api.operations import OperationRunner
from crmqa.load.model import LoadSpec
from crmqa.load.runtime.session import LoadSession
from crmqa.profiles.loader import resolve_profile

ROOT = Path(__file__).resolve().parents[1]


def flow_cpu_us(repeat: int = 7, steps: int = 5000) -> float:
    """crmqa's own CPU per load step (microseconds, best of `repeat`), the answer canned.

    The same step as the load (`op: lead.get` through the sandbox profile) runs through the
    flow runner a Locust process uses, over a session whose HTTP agent answers at once.
    """
    body = json.dumps({"id": 1, "first_name": "Ada", "last_name": "Lovelace",
                       "email": "ada@example.com", "phone": "+44 20 7946 0000",
                       "company": "Analytical Engines", "title": "Engineer", "status": "new",
                       "source": "web", "owner": "admin", "notes": "",
                       "created_at": "2026-01-01T00:00:00Z",
                       "updated_at": "2026-01-01T00:00:00Z"}).encode()

    class Answer:
        status_code = 200
        content = body
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body)),
                   "Server": "uvicorn", "Date": "Mon, 30 Nov 2026 12:00:00 GMT"}

    class CannedAgent:
        valid_response_codes: Any = None

        def urlopen(self, url: str, **_: Any) -> Answer:
            return Answer()

    profile = resolve_profile("sandbox", ROOT)
    flows = FlowRunner(profile=profile, runner=OperationRunner(profile, ROOT), adapter=None,
                       base_dir=ROOT, fire=lambda **_: None,
                       templates={"vars": {}, "params": {}, "rules": {}}, faker=None,
                       token="bench", default_identity="default", journal=None,
                       problems=None)
    load = LoadSpec.model_validate({
        "scenarios": [{"name": "readers", "think_time": 0, "tasks": [
            {"name": "read a lead", "steps": [{"op": "lead.get", "with": {"id": 1}}]}]}],
        "shape": {"users": 1, "spawn_rate": 1, "duration_s": 1}})
    compiled = [CompiledStep.of(step, None) for step in load.scenarios[0].tasks[0].steps]
    session = LoadSession("http://127.0.0.1:9", "default", CannedAgent(), CookieJar(), 5.0)
    session.http.headers["Authorization"] = "Bearer bench"

    def one_step() -> None:
        if not flows.run(compiled, {}, "readers", lambda identity: session):
            raise RuntimeError("the canned step did not pass")

    one_step()
    best = min(timeit.repeat(one_step, number=steps, repeat=repeat, timer=time.process_time))
    return 1e6 * best / steps



if __name__ == "__main__":
    print(f"{flow_cpu_us():.2f} us of CPU per step")
