"""Several machines: Locust's own master/worker mode, with crmqa's master.

`crmqa run PLAN --load-external-workers N --load-bind 0.0.0.0:5557` starts each load's
master, which waits for N workers; on each other machine `crmqa load-worker --master
HOST:PORT` starts a Locust worker that receives the generated locustfile from the master
(`locust --worker -f -`) and runs its share of the users. The workers need crmqa installed
and the target's credential variables set; they send the records they create to the master.
"""

from __future__ import annotations

import subprocess

from crmqa.load.options import LoadOptionError, parse_bind
from crmqa.load.process import worker_command


def run_worker(master: str) -> int:
    """Run one Locust worker for the master at `master` until the master lets it go."""
    try:
        host, port = parse_bind(master)
    except LoadOptionError as error:
        raise SystemExit(f"error: --master {error}") from None
    return subprocess.call(worker_command(host, port))
