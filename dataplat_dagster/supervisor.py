"""Run `dagster dev` (webserver, daemon, code server, run workers) and stop all of it cleanly.

`dagster dev` maps SIGTERM to its SIGINT handler; a process started in the background of a
non-interactive shell inherits SIGINT as ignored, so that `dagster dev` then ignored both and
only SIGKILL stopped it, leaving its children behind. The child here starts with the default
signal handlers, in its own process group; Ctrl-C or SIGTERM on `dataplat ui` is forwarded as
SIGINT (Dagster's graceful shutdown), and whatever is left of the group after a grace period
is killed, so nothing it started outlives it. (Hand-written: Dagster has no supervisor for
`dagster dev` itself.)
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

GRACE_SECONDS = 20.0


def dagster_dev_command(workspace: Path, *, port: int, host: str) -> list[str]:
    """`dagster dev` through this interpreter, so the same environment serves the UI."""
    return [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(workspace),
        "--port",
        str(port),
        "--host",
        host,
    ]


def supervise(command: Sequence[str], *, cwd: Path, grace: float = GRACE_SECONDS) -> int:
    """Run `command` until it exits or this process is asked to stop; returns its exit code.

    SIGINT and SIGTERM are forwarded as SIGINT to the child; after `grace` seconds the
    child's whole process group is killed. The group is always cleaned up on the way out.
    """
    stopping: dict[str, float | None] = {"at": None}
    group: dict[str, int] = {}

    def _forward(signum: int, _frame: object) -> None:
        if stopping["at"] is None:
            stopping["at"] = time.monotonic()
            if "pid" in group:
                _signal_group(group["pid"], signal.SIGINT)

    # Handlers first: a signal handled here is reset to its default in the child at exec, while
    # an ignored one would stay ignored there (what a background shell gives its jobs).
    previous = {sig: signal.signal(sig, _forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    child = subprocess.Popen(list(command), cwd=cwd, start_new_session=True)
    group["pid"] = child.pid
    try:
        while child.poll() is None:
            since = stopping["at"]
            if since is not None and time.monotonic() - since > grace:
                _signal_group(child.pid, signal.SIGKILL)
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_group(child.pid, grace)
    if stopping["at"] is not None:
        return 0  # asked to stop, and stopped
    return child.returncode


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _stop_group(pgid: int, grace: float) -> None:
    """Terminate what is left of the group (code servers, run workers), then kill it."""
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + min(grace, 10.0)
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return
        time.sleep(0.2)
    _signal_group(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
