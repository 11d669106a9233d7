"""The asset checks a table declares: names, severities, descriptions, specs."""

import json
from dataclasses import dataclass
from typing import Any

import dagster as dg

from dataplat_dagster.config.plan import TablePlan
from dataplat_dagster.config.rules import BaseRule

QUARANTINE_RATIO = "quarantine_ratio"
ACTION_TEXT = {
    "warn": "",
    "drop": " (failing rows dropped)",
    "quarantine": " (failing rows quarantined)",
    "fail": " (the step fails)",
}


@dataclass(frozen=True)
class CheckDef:
    """One asset check of a table."""

    name: str
    severity: str  # "warn" | "error"
    description: str
    declared: dict[str, Any]
    rule_index: int | None = None  # into the table's rules; None: the quarantine ratio check
    expectation_index: int | None = None  # for Great Expectations checks: position in the suite

    @property
    def dagster_severity(self) -> dg.AssetCheckSeverity:
        return (
            dg.AssetCheckSeverity.ERROR if self.severity == "error" else dg.AssetCheckSeverity.WARN
        )


def check_defs(plan: TablePlan) -> list[CheckDef]:
    """Every check of `plan`, in declaration order (GE rules give one check per expectation)."""
    if not hasattr(plan.spec, "rules"):
        return []
    defs: list[CheckDef] = []
    taken: set[str] = set()
    for index, rule in enumerate(plan.spec.rules):
        declared = rule.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude_defaults=True
        )
        if rule.kind == "great_expectations":
            for position, expectation in enumerate(plan.expectations[index]):
                name = _unique(rule.name or expectation_check_name(expectation), taken)
                severity = expectation["meta"].get("severity", rule.effective_severity)
                text = f"Great Expectations: {expectation['type']} {json.dumps(expectation['kwargs'], default=str)}"
                defs.append(
                    CheckDef(
                        name, severity, text, {"great_expectations": expectation}, index, position
                    )
                )
            continue
        taken.add(rule.check_name)
        text = rule.description or describe(rule, plan)
        defs.append(
            CheckDef(
                rule.check_name,
                rule.effective_severity,
                text + ACTION_TEXT[rule.on_fail],
                declared,
                index,
            )
        )
    policy = plan.spec.quarantine
    if policy is not None:
        text = f"At most {policy.max_ratio:.2%} of a window's rows are quarantined"
        defs.append(
            CheckDef(QUARANTINE_RATIO, policy.severity, text, {"quarantine": policy.model_dump()})
        )
    return defs


def expectation_check_name(expectation: dict[str, Any]) -> str:
    """`expect_column_values_to_not_be_null` on `order_id` -> `ge_column_values_to_not_be_null_order_id`."""
    kwargs = expectation["kwargs"]
    columns = kwargs.get("column") or "_".join(kwargs.get("column_list") or []) or None
    base = "ge_" + expectation["type"].removeprefix("expect_")
    return f"{base}_{columns}" if columns else base


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}_{number}", number + 1
    taken.add(candidate)
    return candidate


def describe(rule: BaseRule, plan: TablePlan) -> str:
    """A one-line statement of what the rule requires, for the UI."""
    p = rule.params
    match rule.kind:
        case "not_null":
            return f"{p} is never null"
        case "unique":
            return f"({', '.join(p)}) is unique" + (
                " within each window" if plan.partitioned else ""
            )
        case "accepted_values":
            return f"{p.column} is one of {', '.join(map(str, p.values))}"
        case "range":
            low, high = ("[", "]") if p.inclusive else ("(", ")")
            return f"{p.column} within {low}{'-inf' if p.min is None else p.min}, {'inf' if p.max is None else p.max}{high}"
        case "regex":
            return f"{p.column} matches {p.pattern}"
        case "referential":
            return f"every {p.column} exists in {p.to}.{p.to_column or p.column}"
        case "expression":
            share = "" if p.min_ratio == 1 else f" for at least {p.min_ratio:.2%} of rows"
            return f"{p.sql}{share}"
        case "row_count":
            return f"rows per {'window' if plan.partitioned else 'table'} within [{p.min if p.min is not None else 0}, {p.max if p.max is not None else 'inf'}]"
        case "schema":
            return f"columns {', '.join(f'{c}: {t}' for c, t in p.columns.items())} (new column: {p.new_column}, missing: {p.missing_column}, type change: {p.type_change})"
        case "freshness":
            return (
                f"newest {p.column or 'window'} no older than {p.max_age} at the window end"
                if plan.partitioned
                else f"newest {p.column} no older than {p.max_age}"
            )
        case "count_audit":
            source = p.source or str(plan.inputs[0]) if plan.inputs else p.source
            removed = " minus rows dropped or quarantined" if p.account_for_removed else ""
            return f"rows equal {source}'s{removed}, within {p.tolerance_pct}%"
        case "custom":
            return f"custom check {p.function}"
    return rule.kind


def build_check_specs(
    plan: TablePlan, asset_key: dg.AssetKey, partitions_def: dg.PartitionsDefinition | None
) -> list[dg.AssetCheckSpec]:
    """One spec per check; ERROR checks block the layers below (blocking=True)."""
    return [
        dg.AssetCheckSpec(
            check.name,
            asset=asset_key,
            description=check.description,
            blocking=check.severity == "error",
            partitions_def=partitions_def,
            metadata={"severity": check.severity, "rule": dg.MetadataValue.json(check.declared)},
        )
        for check in check_defs(plan)
    ]
