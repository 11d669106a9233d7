"""The wording of every notice the platform sends."""

from collections.abc import Sequence
from typing import Any

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


def check_failure_notice(
    *, table: str, failures: Sequence[tuple[Any, Any]], run_id: str, ui_base_url: str | None
) -> Notice:
    """One notice per table and run, listing every failed ERROR check and window."""
    lines = [
        f"{len(failures)} ERROR check result(s) failed on {table}; the layers below are not built from these windows.",
        "",
    ]
    for check, verdict in failures:
        details = ", ".join(f"{k}={v}" for k, v in verdict.metadata.items() if k in _SHOWN)
        lines.append(
            f"- {check.name} [{verdict.window or 'all data'}]: {check.description}"
            + (f" ({details})" if details else "")
        )
    lines += ["", f"Run: {run_link(ui_base_url, run_id)}"]
    windows = describe_windows(sorted({v.window for _, v in failures}, key=str))
    return Notice("check_failure", f"CHECK FAILED: {table} for {windows}", "\n".join(lines))


_SHOWN = (
    "failing_rows",
    "failing_ratio",
    "rows",
    "difference",
    "difference_pct",
    "missing_columns",
    "changed_types",
    "newest",
    "ratio",
)


def arrival_notice(*, source: str, arrivals: Any) -> Notice:
    """One notice per sensor tick: the runs requested and the files nobody can place."""
    lines = [f"Files arrived for {source}.", ""]
    for window, files in sorted(arrivals.batches.items(), key=lambda item: str(item[0])):
        lines.append(f"Window {window or 'all data'}: run requested for {len(files)} file(s)")
        lines += [f"  {f.path} ({f.size} bytes)" for f in files[:20]]
        if len(files) > 20:
            lines.append(f"  ... and {len(files) - 20} more")
    if arrivals.unmatched:
        lines += ["", "Files that match no window (not loaded):"]
        lines += [f"  {u.path}: {u.reason}" for u in arrivals.unmatched[:50]]
    if arrivals.more:
        lines += ["", "More files are waiting: the next tick continues the listing."]
    requested = len(arrivals.batches)
    subject = f"files arrived: {source}, {requested} run(s) requested" + (
        f", {len(arrivals.unmatched)} unmatched" if arrivals.unmatched else ""
    )
    return Notice("file_arrival", subject, "\n".join(lines))
