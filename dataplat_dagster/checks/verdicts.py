"""Check verdicts per window and the Dagster events that report them."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from dataplat_dagster.checks.specs import CheckDef


@dataclass
class Verdict:
    """One check's result on one window (`window` None: the unpartitioned table)."""

    window: str | None
    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    severity: str | None = None  # overrides the check's (a schema drift that only warns)


@dataclass
class CheckOutcome:
    check: CheckDef
    verdicts: list[Verdict]

    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]


def check_events(
    context: dg.AssetExecutionContext,
    asset_key: dg.AssetKey,
    outcomes: Sequence[CheckOutcome],
    keys: Sequence[str | None],
    per_window_up_to: int = 7,
) -> Iterator[Any]:
    """Report each check's verdicts.

    A one-window run yields `AssetCheckResult`s (Dagster links them to the materialization).
    A range run cannot yield a check result twice, so it reports `AssetCheckEvaluation`s
    with their window as partition, then the check's (empty) output: one per window for a
    range of up to `per_window_up_to` windows; beyond, one for the whole range (with each
    window's figures) plus one per failed window, since every evaluation is a write to
    Dagster's event log (about 10 ms each on SQLite: a thousand of them for a large backfill).
    """
    selected = context.selected_asset_check_keys
    for outcome in outcomes:
        check_key = dg.AssetCheckKey(asset_key, outcome.check.name)
        if check_key not in selected:
            continue
        if len(keys) == 1 and (keys[0] is None or len(context.partition_keys) == 1):
            (verdict,) = outcome.verdicts
            yield dg.AssetCheckResult(
                asset_key=asset_key,
                check_name=outcome.check.name,
                passed=verdict.passed,
                metadata=verdict.metadata,
                severity=_severity(outcome, verdict),
                description=outcome.check.description,
            )
            continue
        verdicts = (
            outcome.verdicts
            if len(keys) <= per_window_up_to
            else [_whole_range(outcome), *outcome.failed()]
        )
        for verdict in verdicts:
            yield dg.AssetCheckEvaluation(
                asset_key=asset_key,
                check_name=outcome.check.name,
                passed=verdict.passed,
                metadata=verdict.metadata,
                severity=_severity(outcome, verdict),
                description=outcome.check.description,
                # not blocking: a range run leaves a failed window out of the tables below
                # and builds the others (resources/blocked_windows.py) instead of stopping all
                blocking=False,
                partition=verdict.window,
            )
        yield dg.Output(
            None, output_name=context.assets_def.get_output_name_for_asset_check_key(check_key)
        )


def _whole_range(outcome: CheckOutcome) -> Verdict:
    """One verdict for a large range: passed when every window passed, with each window's figures."""
    failed = outcome.failed()
    windows = [v.window for v in outcome.verdicts]
    summary = {
        "windows": f"{windows[0]} .. {windows[-1]} ({len(windows)} windows)",
        "failed_windows": dg.MetadataValue.json([v.window for v in failed]),
        "per_window": dg.MetadataValue.json(
            {
                str(v.window): {
                    k: getattr(m, "value", m) for k, m in v.metadata.items() if k in _PER_WINDOW
                }
                for v in outcome.verdicts
            }
        ),
    }
    worst = next(
        (v.severity for v in failed if v.severity == "error"),
        failed[0].severity if failed else None,
    )
    return Verdict(None, not failed, summary, worst)


_PER_WINDOW = (
    "failing_rows",
    "failing_ratio",
    "rows",
    "source_count",
    "target_count",
    "difference",
    "newest",
    "ratio",
)


def _severity(outcome: CheckOutcome, verdict: Verdict) -> dg.AssetCheckSeverity:
    level = verdict.severity or outcome.check.severity
    return dg.AssetCheckSeverity.ERROR if level == "error" else dg.AssetCheckSeverity.WARN
