"""Which windows of a range run a table builds, and which it leaves out (see blocked_windows)."""

import dagster as dg

from dataplat_dagster.assets.support import run_keys
from dataplat_dagster.config.plan import TablePlan
from dataplat_dagster.resources.blocked_windows import LEFT_OUT, take_left_out


def windows_to_build(
    context: dg.AssetExecutionContext, plan: TablePlan
) -> tuple[list[str | None], dict[str, str]]:
    """The run's windows this table builds, and those it leaves out with the reason.

    In a range run, a window that failed its quality gate in an input (or that an input left
    out) is left out here too; the other windows are built.

    Raises:
        dg.Failure: every window of the range was left out.
        WindowNotEligible: a window is still open or within its stability lag.
    """
    keys = run_keys(context, plan)
    if len(keys) < 2:
        return keys, {}
    left_out = take_left_out(context.run.run_id, context.op_execution_context.op_def.name)
    built = [key for key in keys if key not in left_out]
    if not left_out:
        return built, {}
    reasons = "; ".join(f"{window}: {reason}" for window, reason in left_out.items())
    if not built:
        raise dg.Failure(
            description=f"{plan.id}: every window of the run was left out ({reasons})",
            allow_retries=False,
        )
    context.log.warning(
        f"{plan.id}: {len(left_out)} of {len(keys)} windows left out, the others built: {reasons}"
    )
    return built, left_out


def left_out_metadata(
    context: dg.AssetExecutionContext, key: dg.AssetKey, left_out: dict[str, str]
) -> None:
    """Say on each left-out window's materialization that this run did not build it."""
    for window, reason in left_out.items():
        context.add_asset_metadata(
            {LEFT_OUT: reason},
            asset_key=key,
            partition_key=window,
        )
