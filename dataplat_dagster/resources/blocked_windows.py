"""Windows of a range run left out below a window that failed its quality gate.

One run over many windows keeps each window apart, as one run per window would: a window that
fails an ERROR check is published for inspection only (its manifest names the checks, the
catalogue withholds it), and every table below leaves that window out while building the
others. A table that left windows out says so in a marker, `<table>/_blocked/<run id>.json`
(written only when there are any), so that the tables below it in the same run, whose steps
may run in other processes, leave them out too. A left-out window keeps its previous version.
"""

import json
from collections.abc import Sequence

from dataplat_dagster.resources.storage import TableStorage

MARKERS = "_blocked"
LEFT_OUT = "dataplat/left_out"  # per-window metadata: why this run did not build the window

# (run id, step) -> window -> why: filled while a step's inputs load, read by its body
_LEFT_OUT_BY_STEP: dict[tuple[str, str], dict[str, str]] = {}


def marker_path(storage: TableStorage, key_path: Sequence[str], run_id: str) -> str:
    return f"{storage.table_path(key_path)}/{MARKERS}/{run_id}.json"


def write_marker(
    storage: TableStorage, key_path: Sequence[str], run_id: str, left_out: dict[str, str]
) -> None:
    """Record the windows this run left out of a table, with the reason for each."""
    path = marker_path(storage, key_path, run_id)
    storage.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with storage.fs.open_output_stream(path) as out:
        out.write(json.dumps(left_out, sort_keys=True).encode())


def read_marker(storage: TableStorage, key_path: Sequence[str], run_id: str) -> dict[str, str]:
    """The windows this run left out of a table (none when it wrote no marker)."""
    path = marker_path(storage, key_path, run_id)
    try:
        with storage.fs.open_input_stream(path) as stream:
            data = stream.read()
    except FileNotFoundError:
        return {}
    return dict(json.loads(data))


def note_left_out(run_id: str, step: str, left_out: dict[str, str]) -> None:
    """An input of `step` lacks these windows (called while the step's inputs load)."""
    if left_out:
        _LEFT_OUT_BY_STEP.setdefault((run_id, step), {}).update(left_out)


def take_left_out(run_id: str, step: str) -> dict[str, str]:
    """The windows the inputs of `step` lack, in window order (once: the entry is removed)."""
    left_out = _LEFT_OUT_BY_STEP.pop((run_id, step), {})
    return dict(sorted(left_out.items()))
