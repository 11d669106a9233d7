"""Assemble the code location: declarations + environment profile -> dg.Definitions."""

import atexit
import gc
import hashlib
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from dataplat_dagster.alerts import build_run_failure_sensor
from dataplat_dagster.assets import build_assets
from dataplat_dagster.assets.support import AssetOptions, engine_of
from dataplat_dagster.config.loader import Project, load_project
from dataplat_dagster.config.plan import Plan, build_plan
from dataplat_dagster.environment import Environment, get_environment
from dataplat_dagster.event_log import enable_event_batches
from dataplat_dagster.jobs import build_jobs
from dataplat_dagster.resources import build_resources, kinds_of
from dataplat_dagster.schedules import build_schedules
from dataplat_dagster.sensors import build_sensors


def build_definitions(project_root: Path, env: Environment | None = None) -> dg.Definitions:
    """Everything the code location serves, built from `assets/` and `resources/` under `project_root`.

    Args:
        project_root: the folder holding `assets/`, `resources/` and `definitions.py`.
        env: the environment profile; DATAPLAT_ENV (default local) when omitted.

    Raises:
        DeclarationError: a declaration or the profile is invalid (names file, field, line).
    """
    project = load_project(project_root, env or get_environment())
    plan = build_plan(project.dataflows)
    return definitions_from(project, plan)


_FROZE: list[bool] = []  # not empty once `_freeze_first_build` ran in this process

# project root -> the last definitions `load_definitions` built there, and what they came from
_LOADED: dict[Path, tuple[bytes, dg.Definitions]] = {}


def load_definitions(project_root: Path) -> dg.Definitions:
    """`build_definitions` for the code location's entry point: built once per process.

    Dagster calls a code location's `@dg.definitions` function twice while loading it (once to
    find the definitions, once to build the repository), and a code server keeps them for its
    life. The second call gets the first's result while the declarations under `assets/` and
    `resources/`, the modules next to `definitions.py` and the environment are unchanged; any
    change builds them again.
    """
    enable_event_batches()  # it sets environment variables: before the fingerprint reads them
    key = _fingerprint(project_root)
    loaded = _LOADED.get(project_root)
    if loaded is not None and loaded[0] == key:
        return loaded[1]
    with _collector_paused():
        # the first build of the process is then frozen (`_freeze_first_build`): Dagster walks
        # the definitions many times more while loading (jobs, snapshots), and each full
        # collection would traverse them again (a third of the load of 100 dataflows)
        definitions = build_definitions(project_root)
    _LOADED[project_root] = (key, definitions)
    return definitions


def _fingerprint(project_root: Path) -> bytes:
    """A digest of the declarations, the user modules' versions and the environment variables."""
    digest = hashlib.blake2b(digest_size=16)
    for folder in ("assets", "resources"):
        for path in sorted((project_root / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(project_root)).encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    for path in sorted(project_root.glob("*.py")):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_mtime_ns}:{stat.st_size}\0".encode())
    for name, value in sorted(os.environ.items()):
        digest.update(f"{name}={value}\0".encode())
    return digest.digest()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while thousands of definition objects are made.

    They all stay alive, so each collection would traverse them for nothing.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def definitions_from(project: Project, plan: Plan) -> dg.Definitions:
    profile = project.profile
    enable_event_batches()
    with warnings.catch_warnings():
        # single-run backfill policies and per-partition checks are beta/preview APIs we rely on on purpose
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        options = AssetOptions(profile.run.ui_base_url, profile.run.checks_per_window_up_to)
        assets = build_assets(plan, kinds_of(profile), options)
    executor = (
        dg.in_process_executor
        if profile.run.executor == "in_process"
        else dg.multiprocess_executor.configured({"max_concurrent": profile.run.max_concurrent})
    )
    definitions = dg.Definitions(
        assets=assets,
        jobs=build_jobs(plan),
        schedules=build_schedules(plan),
        sensors=[*build_sensors(plan), build_run_failure_sensor(profile.run.ui_base_url)],
        resources=build_resources(profile, engines_used(plan)),
        executor=executor,
    )
    _freeze_first_build()
    return definitions


def engines_used(plan: Plan) -> set[str]:
    """The engines the tables run on: Spark resources are built only when a table needs them."""
    return {engine_of(table) for table in plan if table.layer != "landing"}


def _freeze_first_build() -> None:
    """Once per process, after its first definitions: what lives so far leaves the collector.

    The modules imported and the definitions (of a `dataplat run`, a run worker, a code server)
    live as long as the process; loading and running allocate many more objects, and each full
    collection would traverse those again (about 0.7 s of CPU in a one-window run of the
    flights benchmark). Nothing is collected first: the build ran with the collector paused, so
    a collection would traverse every object just made (0.15 s for 100 dataflows) to free the
    few cycles of garbage, which stay instead, once. Later builds in the same process (tests,
    reloads) are left to the collector, so that definitions replaced by a reload are freed.
    """
    if _FROZE:
        return
    _FROZE.append(True)
    gc.freeze()
    # At exit Python runs a full collection over everything not frozen (0.9 s after loading 100
    # dataflows, 0.3 s after a one-window run) only to free memory the process returns anyway.
    # Freezing is a constant-time move of the collector's lists; finalizers that matter are
    # explicit (closed files and connections, logging's and weakref.finalize's exit handlers).
    atexit.register(gc.freeze)
