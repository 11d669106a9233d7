"""The wording of every notice the platform sends."""

from collections.abc import Sequence

from dataplat_dagster.resources.notifier import Notice


def run_link(ui_base_url: str | None, run_id: str) -> str:
    return f"{ui_base_url.rstrip('/')}/runs/{run_id}" if ui_base_url else f"run {run_id}"


def describe_windows(keys: Sequence[str | None]) -> str:
    real = [k for k in keys if k is not None]
    if not real:
        return "all data (not partitioned)"
    return real[0] if len(real) == 1 else f"{real[0]} .. {real[-1]} ({len(real)} windows)"


def output_notice(
    *,
    table: str,
    keys: Sequence[str | None],
    locations: Sequence[str],
    rows: int,
    run_id: str,
    ui_base_url: str | None,
    recipients: Sequence[str],
) -> Notice:
    body = "\n".join(
        [
            f"Output {table} was generated.",
            "",
            f"Window(s): {describe_windows(keys)}",
            f"Rows: {rows}",
            "Written to:",
            *[f"  {location}" for location in locations],
            "",
            f"Run: {run_link(ui_base_url, run_id)}",
        ]
    )
    return Notice(
        "output", f"output ready: {table} for {describe_windows(keys)}", body, tuple(recipients)
    )


def failure_notice(
    *,
    what: str,
    windows: str,
    run_id: str,
    error: str,
    ui_base_url: str | None,
    job: str | None = None,
) -> Notice:
    body = "\n".join(
        [
            f"{what} failed.",
            "",
            *([f"Job: {job}"] if job else []),
            f"Window(s): {windows}",
            f"Run: {run_link(ui_base_url, run_id)}",
            "",
            "Error:",
            error,
        ]
    )
    return Notice("failure", f"FAILED: {what} for {windows}", body)
