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
) -> Iterator[Any]:
    """Report each check once per window.

    A one-window run yields `AssetCheckResult`s (Dagster links them to the materialization).
    A range run cannot yield a check result twice, so it reports one `AssetCheckEvaluation`
    per window, with the window as its partition, then the check's (empty) output.
    """
    selected = context.selected_asset_check_keys
    for outcome in outcomes:
        check_key = dg.AssetCheckKey(asset_key, outcome.check.name)
        if check_key not in selected:
            continue
        if len(keys) == 1:
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
        for verdict in outcome.verdicts:
            yield dg.AssetCheckEvaluation(
                asset_key=asset_key,
                check_name=outcome.check.name,
                passed=verdict.passed,
                metadata=verdict.metadata,
                severity=_severity(outcome, verdict),
                description=outcome.check.description,
                blocking=outcome.check.severity == "error",
                partition=verdict.window,
            )
        yield dg.Output(
            None, output_name=context.assets_def.get_output_name_for_asset_check_key(check_key)
        )


def _severity(outcome: CheckOutcome, verdict: Verdict) -> dg.AssetCheckSeverity:
    level = verdict.severity or outcome.check.severity
    return dg.AssetCheckSeverity.ERROR if level == "error" else dg.AssetCheckSeverity.WARN
