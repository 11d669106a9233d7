"""Benchmark helpers: TPC-H data, the engine a platform run uses, measuring a process tree."""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"
# benchmark-only dataflows: not part of the code location, loaded from a project made per run
DATAFLOWS = BENCH / "dataflows"
_PAGE = os.sysconf("SC_PAGE_SIZE")  # bytes of a memory page, as /proc counts them

# The Spark session of both sides of the Spark benchmark: the platform's engine (use_engine)
# and bench/handwritten_spark.py get the same master, shuffle partitions and driver memory.
SPARK_MASTER = "local[2]"
SPARK_SHUFFLE_PARTITIONS = 8
SPARK_DRIVER_MEMORY = "4g"


def bench_project(folder: Path, *dataflows: str) -> Path:
    """A project at `folder` declaring only the named benchmark dataflows (bench/dataflows).

    It takes the repository's profiles and entry files, so it runs as the code location does.
    """
    shutil.copytree(ROOT / "resources", folder / "resources")
    for name in ("definitions.py", "workspace.yaml", "dagster.yaml"):
        shutil.copyfile(ROOT / name, folder / name)
    for name in dataflows:
        shutil.copytree(DATAFLOWS / name, folder / "assets" / name, ignore=_python)
        for module in (DATAFLOWS / name).glob("*.py"):  # user code lives next to definitions.py
            shutil.copyfile(module, folder / module.name)
    return folder


def use_engine(
    project: Path,
    engine: str,
    shuffle_partitions: int = SPARK_SHUFFLE_PARTITIONS,
    driver_memory: str = SPARK_DRIVER_MEMORY,
) -> None:
    """Make the project's local profile run every table on `engine` (pandas or spark).

    The one place where the benchmark chooses the platform's engine: the profile's `engine`
    and `spark` session settings in resources/local.yaml (over base.yaml), the same Spark
    settings as the hand-written PySpark script's.
    """
    if engine == "pandas":
        return  # the profiles' default
    profile = project / "resources" / "local.yaml"
    declared = yaml.safe_load(profile.read_text()) or {}
    declared["engine"] = engine
    declared["spark"] = {
        "master": SPARK_MASTER,
        "app_name": "tpch-medallion-platform",
        "conf": {
            "spark.sql.shuffle.partitions": str(shuffle_partitions),
            "spark.driver.memory": driver_memory,
        },
    }
    profile.write_text(yaml.safe_dump(declared, sort_keys=False))


def platform_env(landing: Path, work: Path) -> dict[str, str]:
    """The environment of a platform process: local profile, its state and instance in `work`."""
    home = work / "dagster"
    home.mkdir(parents=True)
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    return {
        **os.environ,
        "DATAPLAT_ENV": "local",
        "DATAPLAT_HOME": str(work / "state"),
        "DATAPLAT_LANDING_ROOT": str(landing),
        "DAGSTER_HOME": str(home),
    }


def _python(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n.endswith(".py") or n == "__pycache__"]


def tpch_data(scale: float) -> Path:
    """The landing root holding tpch/lineitem.csv and tpch/orders.csv, generated when missing."""
    root = DATA / f"sf{scale:g}"
    target = root / "tpch"
    if not (target / "lineitem.csv").exists() or not (target / "orders.csv").exists():
        target.mkdir(parents=True, exist_ok=True)
        cli = shutil.which("tpchgen-cli") or str(Path(sys.executable).parent / "tpchgen-cli")
        print(f"generating TPC-H scale factor {scale:g} into {target} ...", flush=True)
        subprocess.run(
            [
                cli,
                "csv",
                "-s",
                f"{scale:g}",
                "--tables",
                "orders,lineitem",
                "--output-dir",
                str(target),
                "--no-progress",
            ],
            check=True,
        )
    return root


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Measured:
    wall: float  # seconds, until the command's own process exits
    cpu: float  # user + system seconds of every process of the tree
    rss: int  # peak of the summed resident memory of the tree, MiB
    stdout: str


def measure_tree(command: list[str], env: dict[str, str], cwd: Path = ROOT) -> Measured:
    """Run `command` in a process group of its own and measure the whole group from outside.

    A PySpark process starts a JVM (spark-submit, then java) that does most of the work: the
    kernel's rusage of the child counts it only once waited for, and its ru_maxrss is the
    largest single process, so /proc is sampled for every process of the group (the JVM
    stays in it) and their memory summed. CPU seconds: the larger of sampled and rusage.
    """
    sampler = _GroupSampler()
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=err, text=True, process_group=0
        )
        sampler.start(child.pid)
        try:
            _, status, usage = os.wait4(child.pid, 0)
        except BaseException:  # interrupted: the group is ours to end
            os.killpg(child.pid, signal.SIGTERM)
            raise
        wall = time.perf_counter() - started
        sampler.stop(wait_for_group=True)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 10):
        raise RuntimeError(f"{' '.join(command[:6])} exited with {code}:\n{stderr[-3000:]}")
    return Measured(
        wall=wall,
        cpu=max(usage.ru_utime + usage.ru_stime, sampler.cpu_seconds()),
        # sampled only: a child's ru_maxrss keeps the high-water mark of the memory it had
        # before it ran its program (Linux's exec saves it), that is the launching
        # process's own: under pytest after the Spark tests, 1.3 GB for a 0.3 GB child
        rss=sampler.peak_rss // (1 << 20),
        stdout=stdout,
    )


class _GroupSampler:
    """Samples /proc every 0.1 s: summed RSS of a process group, CPU seconds of each member."""

    INTERVAL = 0.1
    GRACE = 15.0  # seconds the group's last processes (a JVM shutting down) are waited for

    def __init__(self) -> None:
        self.peak_rss = 0
        self._cpu_ticks: dict[int, int] = {}
        self._done = threading.Event()
        self._deadline = 0.0
        self._thread: threading.Thread | None = None
        self._ticks = os.sysconf("SC_CLK_TCK")

    def start(self, group: int) -> None:
        self._thread = threading.Thread(target=self._run, args=(group,), daemon=True)
        self._thread.start()

    def stop(self, wait_for_group: bool) -> None:
        self._deadline = time.monotonic() + (self.GRACE if wait_for_group else 0)
        self._done.set()
        assert self._thread is not None
        self._thread.join()

    def cpu_seconds(self) -> float:
        return sum(self._cpu_ticks.values()) / self._ticks

    def _run(self, group: int) -> None:
        while True:
            alive = self._sample(group)
            if self._done.is_set() and (not alive or time.monotonic() > self._deadline):
                return
            time.sleep(self.INTERVAL)

    def _sample(self, group: int) -> int:
        found: dict[int, tuple[int, int]] = {}  # member: (parent, resident bytes)
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    stat = handle.read()
            except OSError:  # exited between the listing and the read
                continue
            # fields after the command name, which may hold spaces: state, ppid, pgrp, ...
            fields = stat[stat.rindex(b")") + 2 :].split()
            if int(fields[2]) != group or fields[0] == b"Z":
                continue
            self._cpu_ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
            found[int(entry.name)] = (int(fields[1]), int(fields[21]) * _PAGE)
        rss = sum(_unshared(pid, parent, size, found) for pid, (parent, size) in found.items())
        self.peak_rss = max(self.peak_rss, rss)
        return len(found)


def _unshared(pid: int, parent: int, size: int, members: dict[int, tuple[int, int]]) -> int:
    """The resident bytes `pid` adds to the tree: none for a fork that has not run a program.

    Its resident pages are its parent's (the JVM starts every shell command, Hadoop's file
    operations included, by a fork whose memory is the JVM's until the command starts):
    summed with the parent's they counted the JVM twice, about 4.7 GB of a 9.8 GB peak.
    The command line is read first, the size again after it: a fork that starts its program
    between the scan of /proc and this check is measured as that program, not with the
    memory it had a moment before (two of three runs of the Spark benchmark still showed
    the JVM twice when the size came from the scan).
    """
    if parent not in members:
        return size
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as own, open(f"/proc/{parent}/cmdline", "rb") as up:
            if own.read() == up.read():
                return 0
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except OSError:  # either exited: nothing to count twice
        return 0
