"""Ctrl-C for the `crmqa` a test starts, as a user's terminal gives it.

A child inherits ignored and blocked signals from the process that starts it. In one CI run
two Ctrl-C tests on the same xdist worker saw their `crmqa` run to the end and could not
be reproduced alone: the worker's SIGINT state is reset in the child, and shown on failure.
"""

from __future__ import annotations

import signal
from pathlib import Path


def default_ctrl_c() -> None:
    """`preexec_fn`: SIGINT unblocked and at its default, so Python raises KeyboardInterrupt."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def signal_state(pid: int | str = "self") -> str:
    """The blocked and ignored signal masks of a process, for a failure message."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return f"process {pid}: gone"
    masks = [line for line in lines if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
    return f"process {pid}: " + ", ".join(masks)
