"""Which arrived landing files start which runs: the logic of the file-arrival sensors.

Pure functions over a listing and a cursor, so that restarts, duplicates, replaced and late
files, unmatched names and paging over large listings can be reasoned about (and tested)
without Dagster. The cursor holds the newest modification time seen, the versions of the
files seen within an overlap before it (clocks and listings are not exact), the files
waiting for their window to become eligible, and the unmatched files already reported.
"""

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dataplat_dagster.config.path_pattern import PathPattern
from dataplat_dagster.resources.file_store import FileInfo


@dataclass
class Cursor:
    mtime: float = 0.0
    seen: dict[str, tuple[str, float]] = field(default_factory=dict)  # path -> (version, mtime)
    waiting: dict[str, str] = field(default_factory=dict)  # path -> version
    reported: dict[str, str] = field(default_factory=dict)  # unmatched path -> version

    def to_json(self) -> str:
        return json.dumps(
            {
                "mtime": self.mtime,
                "seen": self.seen,
                "waiting": self.waiting,
                "reported": self.reported,
            }
        )

    @classmethod
    def from_json(cls, text: str | None) -> "Cursor":
        if not text:
            return cls()
        raw = json.loads(text)
        seen = {path: (entry[0], float(entry[1])) for path, entry in raw.get("seen", {}).items()}
        return cls(
            float(raw.get("mtime", 0.0)),
            seen,
            dict(raw.get("waiting", {})),
            dict(raw.get("reported", {})),
        )


@dataclass(frozen=True)
class Unmatched:
    path: str
    reason: str


@dataclass
class Arrivals:
    """The outcome of one look at the landing area."""

    batches: dict[str | None, list[FileInfo]] = field(default_factory=dict)  # window -> new files
    unmatched: list[Unmatched] = field(default_factory=list)  # to report (first time only)
    waiting: dict[str, datetime] = field(default_factory=dict)  # window -> when it becomes eligible
    more: bool = False  # the page was full: the listing continues at the next tick
    cursor: Cursor = field(default_factory=Cursor)

    def defer(self, windows: list[str]) -> None:
        """Leave these windows' files to a later tick, as files waiting for their lag are."""
        for window in windows:
            for info in self.batches.pop(window, []):
                self.cursor.seen.pop(info.path, None)
                self.cursor.waiting[info.path] = info.version

    def run_key(self, sensor: str, window: str | None) -> str:
        """The same files (paths and versions) never start two runs, across restarts too."""
        digest = hashlib.sha1(
            "\n".join(sorted(f"{f.path}@{f.version}" for f in self.batches[window])).encode()
        )
        return f"{sensor}:{window or 'all'}:{digest.hexdigest()[:16]}"


def evaluate(
    listing: list[FileInfo],
    cursor: Cursor,
    *,
    pattern: PathPattern,
    others: list[PathPattern],
    window_of: "WindowLookup",  # defined below
    overlap: timedelta,
    max_files: int,
    now: datetime,
    report_unmatched: bool = True,
) -> Arrivals:
    """Decide what a tick requests.

    Args:
        listing: the files under the source's prefix.
        cursor: the state left by the previous tick.
        pattern: the source's file pattern.
        others: patterns of the dataflow's other sources (their files are not "unmatched").
        window_of: maps a file's date to its window and that window to when it is eligible.
        overlap: files this much older than the newest seen are looked at again.
        max_files: how many new files one tick takes.
        now: the time of the tick.
        report_unmatched: this source reports the files nobody's pattern matches (one source per
            folder does, so that a stray file is reported once, not by every sensor).
    """
    result = Arrivals(cursor=Cursor(cursor.mtime, dict(cursor.seen), {}, dict(cursor.reported)))
    threshold = cursor.mtime - overlap.total_seconds()
    candidates = sorted(
        (
            f
            for f in listing
            if (f.mtime >= threshold or f.path in cursor.waiting)
            and cursor.seen.get(f.path, ("",))[0] != f.version
        ),
        key=lambda f: (f.mtime, f.path),
    )
    batches: dict[str | None, list[FileInfo]] = defaultdict(list)
    taken = 0
    for info in candidates:
        if taken >= max_files:
            result.more = True
            break
        match = pattern.match(info.path)
        reason = None
        if match is None:
            if not report_unmatched or any(other.match(info.path) for other in others):
                continue  # another source's file, or another sensor reports it
            reason = f"matches no landing pattern of the dataflow (expected {pattern.pattern})"
        elif match.moment is not None:
            window = window_of.key(match.moment)
            if window is None:
                reason = f"its date {match.moment:%Y-%m-%d %H:%M} is outside the declared windows"
        if reason is not None:
            if cursor.reported.get(info.path) != info.version:
                result.unmatched.append(Unmatched(info.path, reason))
                result.cursor.reported[info.path] = info.version
            continue
        window = window_of.key(match.moment) if match.moment is not None else None
        if window is not None:
            eligible = window_of.eligible_at(window)
            if eligible > now:  # held back until the window is stable; not marked seen
                result.waiting[window] = eligible
                result.cursor.waiting[info.path] = info.version
                continue
        batches[window].append(info)
        result.cursor.seen[info.path] = (info.version, info.mtime)
        taken += 1
    result.batches = dict(batches)
    marked = [entry[1] for entry in result.cursor.seen.values()]
    result.cursor.mtime = max([cursor.mtime, *marked]) if marked else cursor.mtime
    keep_after = result.cursor.mtime - overlap.total_seconds()
    result.cursor.seen = {p: e for p, e in result.cursor.seen.items() if e[1] >= keep_after}
    present = {f.path for f in listing}
    result.cursor.reported = {p: v for p, v in result.cursor.reported.items() if p in present}
    return result


@dataclass(frozen=True)
class WindowLookup:
    """A source's windows: date -> window key, window -> when it is eligible."""

    key: Callable[[datetime], str | None]
    eligible_at: Callable[[str], datetime]
