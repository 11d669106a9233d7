"""Runs whose process is gone, runs waiting for a writer slot, and stopping a run cleanly.

`dataplat run` executes its runs in its own process (`execute_in_process`), with no run
launcher, so Dagster's run monitoring cannot tell when such a process dies: after a `kill -9`
the run stays STARTED and keeps its slot of the dataflow's writer pool, and every later run of
the dataflow waits for that slot forever. Each run therefore records the process that executes
it (pid and host, in its tags); a run on this host whose process is gone is marked failed and
its slots are freed, when `dataplat run` starts and while a run waits for a slot.
"""

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import dagster as dg
from dagster._utils.interrupts import check_captured_interrupt

log = logging.getLogger(__name__)

PID_TAG = "dataplat/pid"
HOST_TAG = "dataplat/host"
STARTED_TAG = "dataplat/process_start"  # tells a pid reused by another process apart
# statuses of a run that may still hold pool slots
ACTIVE = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def owner_tags() -> dict[str, str]:
    """Tags naming the process that executes a run: the process `dataplat run` runs in."""
    tags = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    started = _process_start(os.getpid())
    if started:
        tags[STARTED_TAG] = started
    return tags


def _process_start(pid: int) -> str | None:
    """When process `pid` started, in clock ticks since boot (Linux), or None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name


def process_is_gone(run: dg.DagsterRun, current: Iterable[str] = ()) -> bool:
    """Whether the process recorded in `run`'s tags no longer exists on this host.

    False when it cannot be told: a run without the tags (launched by the daemon, which its run
    monitoring watches) or executed on another host.
    """
    pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
    if not pid or host != socket.gethostname() or run.run_id in current:
        return False
    if int(pid) == os.getpid():
        return True  # this process runs nothing but `current`: the pid was reused
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # a process of another user holds the pid
    recorded, current_start = run.tags.get(STARTED_TAG), _process_start(int(pid))
    return bool(recorded and current_start and recorded != current_start)


def pools_held(instance: dg.DagsterInstance, run_id: str, pools: Iterable[str]) -> list[str]:
    infos = instance.event_log_storage.get_concurrency_infos(sorted(set(pools)))
    return [pool for pool, info in infos.items() if run_id in info.active_run_ids]


def _slots_text(pools: list[str]) -> str:
    if not pools:
        return "it held no pool slot"
    return f"freed its slot of pool {', '.join(pools)}"


def reap_dead_runs(
    instance: dg.DagsterInstance, pools: Iterable[str], current: Iterable[str] = ()
) -> list[str]:
    """Mark failed the runs of this host whose process is gone and free their slots.

    Also frees the slots still claimed in `pools` by runs that have ended (the daemon does this
    after `free_slots_after_run_end_seconds`, but no daemon may run). Returns the run ids
    handled; each gets one WARNING line.
    """
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        pools = []
    pools, current = sorted(set(pools)), set(current)
    handled = []
    runs = instance.get_runs(dg.RunsFilter(statuses=ACTIVE, tags={HOST_TAG: socket.gethostname()}))
    for run in runs:
        if not process_is_gone(run, current):
            continue
        held = pools_held(instance, run.run_id, pools)
        who = f"pid {run.tags[PID_TAG]} on {run.tags[HOST_TAG]}"
        instance.report_run_failed(
            run, message=f"The process of this run ({who}) is gone: marked failed by dataplat."
        )
        storage.free_concurrency_slots_for_run(run.run_id)
        log.warning(f"run {run.run_id} ({who}) is gone: marked failed, {_slots_text(held)}")
        handled.append(run.run_id)
    for pool, info in storage.get_concurrency_infos(pools).items() if pools else []:
        for run_id in info.active_run_ids - current - set(handled):
            run = instance.get_run_by_id(run_id)
            if run is not None and not run.is_finished:
                continue
            storage.free_concurrency_slots_for_run(run_id)
            status = run.status.value if run else "deleted"
            log.warning(f"run {run_id} has ended ({status}) but held a slot of pool {pool}: freed")
            handled.append(run_id)
    return handled


def _clock(moment: datetime | float | None) -> str:
    if moment is None:
        return "?"
    if isinstance(moment, float):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%H:%M:%S UTC")


class Stopper:
    """Turns --timeout, Ctrl-C and SIGTERM into a clean stop of the run in progress.

    Dagster's in-process execution takes over SIGINT and SIGTERM. Inside a step it raises
    DagsterExecutionInterruptedError, which a step with a RetryPolicy turns into a retry; outside
    a step it only records the signal, and its loop that waits for a pool slot or a retry never
    looks at it. Either way the run would go on. So: the signals are noticed through Python's
    signal wake-up fd (written for every signal, whichever handler Dagster installed); the
    timeout sends SIGINT to this process; and a `RunWatch` marks the run CANCELING, then raises
    KeyboardInterrupt in the main thread through SIGUSR1 at a moment it is not inside a step,
    which ends the run CANCELED. Hand-written: Dagster offers no way to stop an in-process run.
    """

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.reason: str | None = None  # "timeout", "interrupt" or "canceled"
        self._wakeup: int | None = None

    current: "ClassVar[Stopper | None]" = None  # the stopper of this `dataplat run` process

    def install(self) -> None:
        Stopper.current = self
        signal.signal(signal.SIGINT, self._interrupt)
        signal.signal(signal.SIGTERM, self._interrupt)
        signal.signal(signal.SIGUSR1, self._raise)
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        self._wakeup = read
        if self.timeout:
            signal.signal(signal.SIGALRM, self._expire)
            signal.setitimer(signal.ITIMER_REAL, self.timeout)

    def uninstall(self) -> None:
        Stopper.current = None
        signal.setitimer(signal.ITIMER_REAL, 0)
        if self._wakeup is not None:
            os.close(signal.set_wakeup_fd(-1))
            os.close(self._wakeup)
            self._wakeup = None

    @property
    def requested(self) -> bool:
        if self.reason is None and (check_captured_interrupt() or self._signalled()):
            self.reason = "interrupt"  # SIGINT or SIGTERM, taken by Dagster's handler
        return self.reason is not None

    def _signalled(self) -> bool:
        if self._wakeup is None:
            return False
        try:
            received = os.read(self._wakeup, 512)
        except BlockingIOError:
            return False
        return bool({signal.SIGINT, signal.SIGTERM} & set(received))

    def describe(self) -> str:
        if self.reason == "timeout":
            return f"stopped after --timeout {self.timeout:g}s"
        if self.reason == "canceled":
            return "stopped: canceled in Dagster (the UI's Terminate or run monitoring)"
        return "stopped by Ctrl-C or SIGTERM"

    def cancel(self) -> None:
        """Stop for a run marked CANCELING from outside this process (from another thread)."""
        if self.reason is None:
            self.reason = "canceled"
            os.kill(os.getpid(), signal.SIGINT)

    def _interrupt(self, signum: int, frame: Any) -> None:
        self.reason = self.reason or "interrupt"
        raise KeyboardInterrupt

    def _expire(self, signum: int, frame: Any) -> None:
        self.reason = "timeout"
        signal.raise_signal(signal.SIGINT)  # handled by Dagster's handler while a run executes

    def _raise(self, signum: int, frame: Any) -> None:
        raise KeyboardInterrupt


def refuse_step_when_stopping(what: str) -> None:
    """Fail a step about to start in a run being stopped, without a retry.

    The watch can only end the run between steps, and back-to-back steps leave it little room;
    a signal that landed in a step becomes that step's retry. So every step asks first, and the
    run ends at the step it had reached, whatever its timing.
    """
    stopper = Stopper.current
    if stopper is not None and stopper.requested:
        raise dg.Failure(description=f"{what}: not run: {stopper.describe()}", allow_retries=False)


def _inside_a_step() -> bool:
    """Whether the main thread runs a step's code, where Dagster raises SIGINT as an interrupt.

    Between steps its handler only records the signal; the handlers' names tell them apart.
    """
    handler = signal.getsignal(signal.SIGINT)
    return getattr(handler, "__qualname__", "").startswith("raise_interrupts_as")


class RunWatch(threading.Thread):
    """While one run executes: says when it waits for a slot, reaps dead holders, stops it."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        run_id: str,
        pools: list[str],
        stopper: Stopper | None,
        poll_seconds: float = 0.5,
        repeat_seconds: float = 60.0,
    ) -> None:
        super().__init__(name=f"watch-{run_id[:8]}", daemon=True)
        self.instance, self.run_id, self.pools, self.stopper = instance, run_id, pools, stopper
        self.poll_seconds, self.repeat_seconds = poll_seconds, repeat_seconds
        self.done = threading.Event()
        self._said: dict[tuple[str, str], float] = {}
        self._raised = 0.0

    def run(self) -> None:
        tick = 0
        while not self.done.wait(self.poll_seconds):
            tick += 1
            try:
                if self.stopper is not None and self.stopper.requested:
                    self._stop_run()
                elif tick % 4 == 0:
                    self._check_canceled()
                    self._check_slots()
            except Exception as exc:  # a lost database must not kill the run it watches
                log.debug(f"run watch of {self.run_id}: {exc!r}")

    # not `_stop`: that name is threading.Thread's own, which Python calls on this thread's
    # copy in a forked child (pyspark forks to start its JVM), and would cancel the run there
    def _stop_run(self) -> None:
        run = self.instance.get_run_by_id(self.run_id)
        if run is None or run.is_finished:
            return
        if run.status != dg.DagsterRunStatus.CANCELING:
            self.instance.report_run_canceling(run, message=self.stopper.describe())
        # between steps (waiting for a slot or a retry) nothing else ends the run; at most one
        # a second: one landing in a step only becomes a retry, and is followed by the next
        now = time.monotonic()
        if not _inside_a_step() and now - self._raised >= 1.0:
            self._raised = now
            os.kill(os.getpid(), signal.SIGUSR1)

    def _check_canceled(self) -> None:
        run = self.instance.get_run_by_id(self.run_id)
        if self.stopper is not None and run and run.status == dg.DagsterRunStatus.CANCELING:
            self.stopper.cancel()

    def _check_slots(self) -> None:
        storage = self.instance.event_log_storage
        for pool, info in storage.get_concurrency_infos(self.pools).items():
            waiting = [
                step
                for step in info.pending_steps
                if step.run_id == self.run_id and step.assigned_timestamp is None
            ]
            if not waiting:
                continue
            holders = info.active_run_ids - {self.run_id}
            if reap_dead_runs(self.instance, [pool], current={self.run_id}) and holders:
                continue  # freed: Dagster's loop claims the slot at its next check
            for holder in sorted(holders):
                self._say_waiting(pool, holder, waiting[0].enqueued_timestamp)

    def _say_waiting(self, pool: str, holder: str, since: datetime) -> None:
        now = time.monotonic()
        if now - self._said.get((pool, holder), -self.repeat_seconds) < self.repeat_seconds:
            return
        self._said[(pool, holder)] = now
        record = self.instance.get_run_record_by_id(holder)
        started = record.start_time if record else None
        log.info(
            f"run {self.run_id} waits for a slot of pool {pool}, held by run {holder} "
            f"(started {_clock(started)}), since {_clock(since)}"
        )


class Reaper(threading.Thread):
    """Reaps dead runs every `interval` seconds, for `dataplat ui`.

    The daemon's run monitoring watches the runs its launcher started; the runs of `dataplat
    run` processes on this host have no launcher, so this thread watches them.
    """

    def __init__(self, pools: list[str], interval: float = 30.0) -> None:
        super().__init__(name="dataplat-reaper", daemon=True)
        self.pools, self.interval = pools, interval
        self.done = threading.Event()

    def run(self) -> None:
        with dg.DagsterInstance.get() as instance:
            while True:
                try:
                    reap_dead_runs(instance, self.pools)
                except Exception as exc:  # a database that is down now may be back next time
                    log.warning(f"could not look for dead runs: {exc}")
                if self.done.wait(self.interval):
                    return
