"""Progress lines while a migration check works on large extracts.

Preparing ten million records takes a minute or more, all of it inside a few DuckDB
statements; without a word the console looks hung. While a check runs, a watcher thread says
every few seconds what the workspace is doing and, for the statement running, how far DuckDB
says it is (DuckDB's own progress bar is switched off: it would write into the captured
output of the case, and so into its report). Work that ends within the first seconds says
nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

# Quiet for this long: most checks end before, and a line for them would be noise.
FIRST_AFTER_S = 5.0
# Then a line this often.
EVERY_S = 5.0


class QueryProgress(Protocol):
    def query_progress(self) -> float: ...


class Progress:
    """Says what a workspace is doing, through `write` (the console's progress lines)."""

    def __init__(self, connection: QueryProgress, write: Callable[[str], None] | None,
                 first_after_s: float | None = None, every_s: float | None = None) -> None:
        self._connection = connection
        self._write = write
        self._first_after_s = FIRST_AFTER_S if first_after_s is None else first_after_s
        self._every_s = EVERY_S if every_s is None else every_s
        self._what = ""
        self._phase = ""
        self._watching = False

    def phase(self, text: str) -> None:
        """What the work in progress is now ("joining the legacy and migrated records")."""
        self._phase = text

    @contextmanager
    def watching(self, what: str) -> Iterator[None]:
        """Lines about `what` (the check) while the block runs; a block within another one
        is part of it."""
        if self._write is None or self._watching:
            yield
            return
        self._what, self._phase, self._watching = what, "", True
        stop = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(stop, time.monotonic()),
                                   name="crmqa-migration-progress", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()
            self._watching = False

    def _watch(self, stop: threading.Event, started: float) -> None:
        assert self._write is not None
        if stop.wait(self._first_after_s):
            return
        while True:
            self._write(self.line(time.monotonic() - started))
            if stop.wait(self._every_s):
                return

    def line(self, elapsed_s: float) -> str:
        """The progress line now: the check, its phase, the statement's share done."""
        done = self._connection.query_progress()
        # DuckDB answers -1 between statements, and while one has not yet measured itself
        share = f", {done:.0f}% of this step" if done >= 0 else ""
        phase = f": {self._phase}" if self._phase else ""
        return f"migration {self._what}{phase}{share} ({elapsed_s:.0f} s)"
