"""Progress of a range run's per-window work, as INFO lines in the run's log."""

import math
from collections.abc import Callable

LINES_PER_RANGE = 10  # each line is an event-log write: about ten per table and stage, not 365


class WindowProgress:
    """Says "<table>: <n> of <total> windows <done>" about ten times over a range.

    A run of one window says nothing: its step's start and end are its progress.
    """

    def __init__(self, log: Callable[[str], None], table: str, total: int, done: str) -> None:
        self.log, self.table, self.total, self.done = log, table, total, done
        self.every = max(1, math.ceil(total / LINES_PER_RANGE))
        self.count = 0

    def advance(self) -> None:
        """One more window done."""
        self.count += 1
        if self.total > 1 and (self.count % self.every == 0 or self.count == self.total):
            self.log(f"{self.table}: {self.count} of {self.total} windows {self.done}")
