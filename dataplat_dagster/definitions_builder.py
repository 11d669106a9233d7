"""Assemble the code location: declarations + environment profile -> dg.Definitions."""

import warnings
from pathlib import Path

import dagster as dg

from dataplat_dagster.alerts import build_run_failure_sensor
from dataplat_dagster.assets import build_assets
from dataplat_dagster.assets.support import AssetOptions
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
    return dg.Definitions(
        assets=assets,
        jobs=build_jobs(plan),
        schedules=build_schedules(plan),
        sensors=[*build_sensors(plan), build_run_failure_sensor(profile.run.ui_base_url)],
        resources=build_resources(profile),
        executor=executor,
    )
