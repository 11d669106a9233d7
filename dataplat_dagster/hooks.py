"""Job hooks: a failed step tells people at once, whatever launched the run."""

from collections.abc import Callable

import dagster as dg

from dataplat_dagster.notifications import failure_notice


def window_label(tags: dict[str, str]) -> str:
    """The window(s) a run covers, from its tags."""
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    if "dagster/asset_partition_range_start" in tags:
        return f"{tags['dagster/asset_partition_range_start']} .. {tags['dagster/asset_partition_range_end']}"
    return "all data (not partitioned)"


def build_failure_hook(ui_base_url: str | None) -> Callable:
    @dg.failure_hook(name="notify_step_failure", required_resource_keys={"notifier", "metrics"})
    def notify_step_failure(context: dg.HookContext) -> None:
        run = context.instance.get_run_by_id(context.run_id)
        tags = run.tags if run else {}
        windows = window_label(tags)
        error = context.op_exception
        if type(error).__name__ == "DagsterAssetCheckFailedError":
            return  # a failed quality gate has sent its own notice, with the checks and windows
        message = f"{type(error).__name__}: {error}" if error else "see the run's logs"
        context.resources.notifier.send(
            failure_notice(
                what=f"step {context.step_key}",
                windows=windows,
                run_id=context.run_id,
                error=message,
                ui_base_url=ui_base_url,
                job=context.job_name,
            )
        )
        context.resources.metrics.record_run_failure(
            dataflow=tags.get("dataflow", "unknown"), job=context.job_name
        )

    return notify_step_failure
