"""The quality gate of one table: evaluate its rules, act on failing rows, judge the table.

Row rules run on the rows the table's body produced; their actions (drop, quarantine,
fail) decide what is published. Table rules (row counts, schema, freshness, count audits,
expectation suites) then judge what will be published, window by window.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd

from dataplat_dagster.checks import great_expectations as gx_rules
from dataplat_dagster.checks.specs import QUARANTINE_RATIO, CheckDef, check_defs
from dataplat_dagster.checks.verdicts import CheckOutcome, Verdict
from dataplat_dagster.config.plan import TableId, TablePlan
from dataplat_dagster.config.rules import BaseRule
from dataplat_dagster.engines.base import PARTITION, Engine, RuleFunctionResult
from dataplat_dagster.partitions import build_partitions_def
from dataplat_dagster.timestamps import naive_zone

SAMPLE_SIZE = 5
_ALL_ROWS, _REMOVED, _QUARANTINED = "rows", "removed", "quarantined"  # count_masks names
_ACTED = "acted/"  # before the names of counted actions, apart from checks' names


class RuleFailure(dg.Failure):
    """A rule with `on_fail: fail` found failing rows: the window is not published."""


@dataclass
class GateResult:
    frame: Any
    quarantined: list[Any] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    quarantined_rows: dict[str, int] = field(default_factory=dict)
    outcomes: list[CheckOutcome] = field(default_factory=list)
    # rows of `frame` when known without counting it (the gate's own counts, or the steps')
    rows_kept: int | None = None

    def failed(self, severity: str) -> list[tuple[CheckDef, Verdict]]:
        return [
            (o.check, v)
            for o in self.outcomes
            for v in o.failed()
            if (v.severity or o.check.severity) == severity
        ]

    def failed_gates(self) -> dict[str | None, list[str]]:
        """Window -> names of the ERROR checks it failed (those windows must not feed the layers below)."""
        gates: dict[str | None, list[str]] = {}
        for check, verdict in self.failed("error"):
            gates.setdefault(verdict.window, []).append(check.name)
        return gates


@dataclass
class GateInputs:
    """What the gate needs besides the table's rows."""

    keys: list[str | None]
    references: dict[TableId, Any] = field(default_factory=dict)  # other tables read by rules
    removed_before: dict[str | None, int] = field(
        default_factory=dict
    )  # by steps or parsing, per window
    quarantined_before: dict[str | None, int] = field(default_factory=dict)
    source_counts: dict[str | None, int] | None = None  # for raw: rows read per window
    # rows of the frame the steps started from, when known (an input's, from its manifests)
    rows_entering: int | None = None

    def rows_after_steps(self) -> int | None:
        """Rows left by the steps, from what they removed: no pass over the rows."""
        if self.rows_entering is None:
            return None
        return self.rows_entering - sum(self.removed_before.values())


class QualityGate:
    def __init__(self, plan: TablePlan, engine: Engine) -> None:
        self.plan = plan
        self.engine = engine
        self.checks = check_defs(plan)

    @property
    def active(self) -> bool:
        return bool(self.checks)

    def evaluate(self, frame: Any, inputs: GateInputs) -> GateResult:
        """Apply row actions, then judge every check per window.

        Raises:
            RuleFailure: a rule with `on_fail: fail` found failing rows.
        """
        engine, keys = self.engine, inputs.keys
        rows = engine.mask_length(frame)
        codes = engine.window_codes(frame, keys)
        result = GateResult(frame)
        masks: dict[str, Any] = {}
        row_checks = [
            c for c in self.checks if c.rule_index is not None and self._rule(c).is_row_rule
        ]
        verdicts_of: dict[str, list[Verdict]] = {}
        for check in row_checks:
            rule = self._rule(check)
            reference = (
                inputs.references.get(self._reference(rule)) if rule.kind == "referential" else None
            )
            failing = engine.rule_failures(
                frame,
                rule,
                reference,
                self.plan.rule_functions.get(check.rule_index),
                timezone=naive_zone(self.plan),
            )
            if isinstance(failing, RuleFunctionResult):
                verdicts_of[check.name] = self._table_verdicts(frame, rule, check, failing, keys)
            else:
                masks[check.name] = failing
        # the rows the actions take: masks combined, nothing computed yet on engines that defer
        quarantined = engine.combine([], rows)
        acted: dict[str, Any] = {}
        quarantining: list[tuple[Any, Any]] = []
        for check in row_checks:
            if self._rule(check).on_fail == "quarantine" and check.name in masks:
                mask = engine.combine([masks[check.name]], rows, exclude=quarantined)
                quarantining.append((check, mask))
                acted[f"quarantine:{check.name}"] = mask
                quarantined = engine.combine([quarantined, mask], rows)
        dropping = [
            c.name for c in row_checks if self._rule(c).on_fail == "drop" and c.name in masks
        ]
        dropped = engine.combine([masks[name] for name in dropping], rows, exclude=quarantined)
        for name in dropping:
            acted[f"drop:{name}"] = engine.combine([masks[name]], rows, exclude=quarantined)
        removed = engine.combine([quarantined, dropped], rows)
        acted[_REMOVED], acted[_QUARANTINED] = removed, quarantined
        # every mask and every action counted at once: one pass over the rows on engines that
        # can (Spark); action names are kept apart from check names
        counted = engine.count_masks(
            codes,
            {_ALL_ROWS: None, **masks, **{_ACTED + n: m for n, m in acted.items()}},
            len(keys),
        )
        counts = {n: c for n, c in counted.items() if not n.startswith(_ACTED)}
        action_counts = {n[len(_ACTED) :]: c for n, c in counted.items() if n.startswith(_ACTED)}
        rows_by_window = counts[_ALL_ROWS]
        present = engine.column_names(frame)
        shown = {  # the columns each check's sample shows
            c.name: _sample_columns(
                self.plan.row_key, _rule_columns(self._rule(c), present), present
            )
            for c in row_checks
            if c.name in masks
        }
        samples = engine.sample_masks(
            frame,
            {n: (masks[n], [*shown[n], PARTITION]) for n in masks if any(counts[n])},
            SAMPLE_SIZE * len(keys),
        )
        for check in row_checks:
            if check.name in masks:
                verdicts_of[check.name] = self._row_verdicts(
                    check,
                    self._rule(check),
                    shown[check.name],
                    samples.get(check.name, []),
                    counts[check.name],
                    rows_by_window,
                    keys,
                )
            result.outcomes.append(CheckOutcome(check, verdicts_of[check.name]))
        self._fail_if_asked(result)
        for check, mask in quarantining:
            prefix, column, suffix = _reason(check, self._rule(check))
            result.quarantined.append(
                engine.quarantine(frame, mask, check.name, prefix, column, suffix)
            )
        for name, by_window in action_counts.items():
            kind, _, check_name = name.partition(":")
            if kind == "quarantine":
                result.quarantined_rows[check_name] = sum(by_window)
            elif kind == "drop":
                result.dropped[check_name] = sum(by_window)
        removed_now, quarantined_now = action_counts[_REMOVED], action_counts[_QUARANTINED]
        result.frame = engine.keep_rows(frame, removed)
        # the rows kept, from the counts just made: no pass over the rows to count them
        result.rows_kept = sum(rows_by_window) - sum(removed_now)
        self._judge_table(result, inputs, rows_by_window, removed_now, quarantined_now)
        for outcome in result.outcomes:
            rule = self._rule(outcome.check) if outcome.check.rule_index is not None else None
            for verdict in outcome.verdicts:
                verdict.metadata["action"] = _action(outcome.check, rule, verdict, self.plan.id)
        return result

    # -- row rules ------------------------------------------------------------------------------
    def _rule(self, check: CheckDef) -> BaseRule:
        assert check.rule_index is not None
        return self.plan.spec.rules[check.rule_index]

    def _reference(self, rule: BaseRule) -> TableId:
        parts = (
            rule.params.to.split(".")
            if rule.kind == "referential"
            else (rule.params.source or "").split(".")
        )
        return TableId(self.plan.id.dataflow, *parts) if len(parts) == 2 else TableId(*parts)

    def _row_verdicts(
        self,
        check: CheckDef,
        rule: BaseRule,
        columns: list[str],
        samples: list[dict[str, Any]],
        counts: list[int],
        rows_by_window: list[int],
        keys: list[str | None],
    ) -> list[Verdict]:
        min_ratio = rule.expression.min_ratio if rule.kind == "expression" else 1.0
        verdicts = []
        for index, key in enumerate(keys):
            rows, bad = rows_by_window[index], counts[index]
            ratio = bad / rows if rows else 0.0
            window_sample = [
                {c: s[c] for c in columns if c in s}
                for s in samples
                if key is None or str(s.get(PARTITION)) == key
            ][:SAMPLE_SIZE]
            metadata = {
                "failing_rows": bad,
                "failing_ratio": round(ratio, 6),
                "rows": rows,
                "sample": dg.MetadataValue.json(window_sample),
                "threshold": f"pass ratio >= {min_ratio}" if min_ratio < 1 else "no failing rows",
                "rule": dg.MetadataValue.json(check.declared),
            }
            verdicts.append(
                Verdict(key, (1 - ratio) >= min_ratio if min_ratio < 1 else bad == 0, metadata)
            )
        return verdicts

    def _table_verdicts(
        self,
        frame: Any,
        rule: BaseRule,
        check: CheckDef,
        whole: RuleFunctionResult,
        keys: list[str | None],
    ) -> list[Verdict]:
        """A custom verdict per window: the function is called again on each window's rows."""
        if len(keys) == 1:
            return [Verdict(keys[0], whole.passed, dict(whole.metadata))]
        function = self.plan.rule_functions[check.rule_index]
        verdicts = []
        for key, rows in self.engine.slices(frame, keys):
            outcome = self.engine.rule_failures(
                self.engine.drop_columns(rows, [PARTITION]),
                rule,
                None,
                function,
                timezone=naive_zone(self.plan),
            )
            if not isinstance(outcome, RuleFunctionResult):
                raise TypeError(
                    f"custom rule {check.name} returned a verdict for the table but a row mask for a window"
                )
            verdicts.append(Verdict(key, outcome.passed, dict(outcome.metadata)))
        return verdicts

    def _fail_if_asked(self, result: GateResult) -> None:
        for outcome in result.outcomes:
            rule = self._rule(outcome.check) if outcome.check.rule_index is not None else None
            if rule is None or rule.on_fail != "fail":
                continue
            failed = outcome.failed()
            if failed:
                where = ", ".join(str(v.window) for v in failed if v.window) or "the table"
                first = failed[0].metadata
                if "failing_rows" in first:
                    found = f"{sum(v.metadata['failing_rows'] for v in failed)} failing row(s) in {where}"
                    found += f"; sample: {first['sample'].value}"
                else:  # a table rule: say what it measured
                    shown = {k: getattr(v, "value", v) for k, v in first.items() if k != "rule"}
                    found = f"a failure in {where}: {shown}"
                raise RuleFailure(
                    description=(
                        f"{self.plan.id}: rule {outcome.check.name} (on_fail: fail) found {found}; "
                        "nothing was published."
                    ),
                    allow_retries=False,
                )

    # -- table rules ----------------------------------------------------------------------------
    def _judge_table(
        self,
        result: GateResult,
        inputs: GateInputs,
        rows_in: list[int],
        removed_now: list[int],
        quarantined_now: list[int],
    ) -> None:
        engine, keys = self.engine, inputs.keys
        # the rows kept: those in minus those the actions removed (no second pass to count)
        kept = [rows - gone for rows, gone in zip(rows_in, removed_now, strict=True)]
        suites: dict[int, dict[str | None, list[Verdict]]] = {}
        for check in self.checks:
            if check.name == QUARANTINE_RATIO:
                result.outcomes.append(
                    CheckOutcome(
                        check, self._quarantine_ratio(inputs, rows_in, removed_now, quarantined_now)
                    )
                )
                continue
            rule = self._rule(check)
            if rule.is_row_rule:
                continue
            if rule.kind == "row_count":
                verdicts = [_row_count(key, kept[i], rule) for i, key in enumerate(keys)]
            elif rule.kind == "schema":
                verdict = _schema(engine.column_types(result.frame), rule)
                verdicts = [
                    Verdict(key, verdict.passed, verdict.metadata, verdict.severity) for key in keys
                ]
            elif rule.kind == "freshness":
                codes = engine.window_codes(result.frame, keys)
                verdicts = self._freshness(result.frame, rule, codes, keys)
            elif rule.kind == "count_audit":
                verdicts = self._count_audit(rule, inputs, kept, removed_now)
            else:  # great_expectations: the suite runs once per window, each check reads its expectation
                assert check.rule_index is not None and check.expectation_index is not None
                if check.rule_index not in suites:
                    expectations = self.plan.expectations[check.rule_index]
                    suites[check.rule_index] = gx_rules.validate_suite(
                        engine, result.frame, expectations, keys
                    )
                verdicts = [suites[check.rule_index][key][check.expectation_index] for key in keys]
            result.outcomes.append(CheckOutcome(check, verdicts))
        order = {c.name: i for i, c in enumerate(self.checks)}
        result.outcomes.sort(key=lambda o: order[o.check.name])
        self._fail_if_asked(result)

    def _quarantine_ratio(
        self,
        inputs: GateInputs,
        rows_in: list[int],
        removed_now: list[int],
        quarantined_now: list[int],
    ) -> list[Verdict]:
        policy = self.plan.spec.quarantine
        verdicts = []
        for i, key in enumerate(inputs.keys):
            quarantined = quarantined_now[i] + inputs.quarantined_before.get(key, 0)
            total = rows_in[i] + inputs.removed_before.get(key, 0)
            ratio = quarantined / total if total else 0.0
            metadata = {
                "quarantined_rows": quarantined,
                "rows_in": total,
                "ratio": round(ratio, 6),
                "max_ratio": policy.max_ratio,
            }
            verdicts.append(Verdict(key, ratio <= policy.max_ratio, metadata))
        return verdicts

    def _freshness(
        self, frame: Any, rule: BaseRule, codes: Any, keys: list[str | None]
    ) -> list[Verdict]:
        params, now = rule.freshness, datetime.now(UTC)
        windows = build_partitions_def(self.plan.partitioning) if self.plan.partitioning else None
        newest = (
            self.engine.newest_by_window(frame, params.column, codes, len(keys))
            if params.column
            else [None] * len(keys)
        )
        verdicts = []
        for i, key in enumerate(keys):
            end = windows.time_window_for_partition_key(key).end if windows and key else now
            if params.column:
                value = newest[i]
                moment = (
                    _aware(value, windows.timezone if windows else "UTC")
                    if value is not None
                    else None
                )
                passed = moment is not None and moment >= end - params.max_age
                metadata = {
                    "newest": str(value) if value is not None else "no rows",
                    "bound": str(end - params.max_age),
                }
            else:
                passed = end >= now - params.max_age
                metadata = {"window_end": str(end), "bound": str(now - params.max_age)}
            verdicts.append(Verdict(key, passed, {**metadata, "max_age": str(params.max_age)}))
        return verdicts

    def _count_audit(
        self, rule: BaseRule, inputs: GateInputs, kept: list[int], removed_now: list[int]
    ) -> list[Verdict]:
        params, keys = rule.count_audit, inputs.keys
        if inputs.source_counts is not None and (
            params.source is None or params.source.split(".")[-2] == "landing"
        ):
            source = [inputs.source_counts.get(k, 0) for k in keys]
            source_name = str(self.plan.inputs[0]) if self.plan.inputs else "landing"
        else:
            source_id = self._reference(rule) if params.source else self.plan.inputs[0]
            frame = inputs.references[source_id]
            source = self.engine.count_by_window(
                self.engine.window_codes(frame, keys), None, len(keys)
            )
            source_name = str(source_id)
        verdicts = []
        for i, key in enumerate(keys):
            removed = (
                removed_now[i] + inputs.removed_before.get(key, 0)
                if params.account_for_removed
                else 0
            )
            expected = source[i] - removed
            difference = kept[i] - expected
            percent = (
                abs(difference) / expected * 100
                if expected
                else (0.0 if difference == 0 else 100.0)
            )
            metadata = {
                "source": source_name,
                "source_count": source[i],
                "target_count": kept[i],
                "removed": removed,
                "expected_count": expected,
                "difference": difference,
                "difference_pct": round(percent, 4),
                "tolerance_pct": params.tolerance_pct,
            }
            verdicts.append(Verdict(key, percent <= params.tolerance_pct, metadata))
        return verdicts


def _aware(value: Any, timezone: str) -> datetime:
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize(timezone) if stamp.tzinfo is None else stamp).to_pydatetime()


LINEAGE_COLUMNS = ("_source_file", "_source_row")


def _sample_columns(row_key: list[str], rule_columns: list[str], present: list[str]) -> list[str]:
    """What a failing sample shows: the row's key, the rule's columns, and where it came from."""
    wanted = [*row_key, *rule_columns, *LINEAGE_COLUMNS]
    return [c for c in dict.fromkeys(wanted) if c in present]


def _action(check: CheckDef, rule: BaseRule | None, verdict: Verdict, table: TableId) -> str:
    """What the platform did about this verdict, as it applied (not as declared)."""
    if verdict.passed:
        return "none"
    on_fail = rule.on_fail if rule is not None else "warn"
    failing = verdict.metadata.get("failing_rows")
    rows = f"{failing} failing row(s)" if isinstance(failing, int) else "the failing rows"
    done = {
        "quarantine": [f"{rows} moved to {table.name}__quarantine"],
        "drop": [f"{rows} dropped"],
        "fail": ["the step failed; nothing was published"],
    }.get(on_fail, [])
    where = f"window {verdict.window}" if verdict.window is not None else "the table"
    if (verdict.severity or check.severity) == "error":
        done.append(f"blocked: {where} is not served to the layers below (ERROR)")
    elif not done:
        done.append("reported only (WARN)")
    return "; ".join(done)


def _rule_columns(rule: BaseRule, frame_columns: list[str]) -> list[str]:
    """Columns shown in a failing sample: the rule's own, or every data column when it has none."""
    p = rule.params
    match rule.kind:
        case "not_null":
            return [p]
        case "unique":
            return list(p)
        case "accepted_values" | "range" | "regex" | "referential":
            return [p.column]
    return [c for c in frame_columns if not c.startswith("_")][:12]


def _reason(check: CheckDef, rule: BaseRule) -> tuple[str, str | list[str] | None, str]:
    """(prefix, column(s), suffix) of `_dq_reason` = prefix + the row's value(s) + suffix."""
    p = rule.params
    match rule.kind:
        case "not_null":
            return f"{check.name}: {p} is null", None, ""
        case "unique":
            return f"{check.name}: duplicate key ({', '.join(p)})=(", list(p), ")"
        case "accepted_values":
            return (
                f"{check.name}: {p.column}=",
                p.column,
                f" is not one of {', '.join(map(str, p.values))}",
            )
        case "range":
            low, high = ("[", "]") if p.inclusive else ("(", ")")
            bounds = f"{low}{'-inf' if p.min is None else p.min}, {'inf' if p.max is None else p.max}{high}"
            return f"{check.name}: {p.column}=", p.column, f" is outside {bounds}"
        case "regex":
            return f"{check.name}: {p.column}=", p.column, f" does not match {p.pattern}"
        case "referential":
            return f"{check.name}: {p.column}=", p.column, f" is not in {p.to}"
        case "expression":
            return f"{check.name}: {p.sql} is not true", None, ""
    return f"{check.name}: failed {check.description}", None, ""


def _row_count(key: str | None, rows: int, rule: BaseRule) -> Verdict:
    p = rule.row_count
    passed = (p.min is None or rows >= p.min) and (p.max is None or rows <= p.max)
    return Verdict(key, passed, {"rows": rows, "min": p.min, "max": p.max})


def _schema(actual: dict[str, str], rule: BaseRule) -> Verdict:
    """Drift judged by the policy: the worst finding sets the verdict's severity."""
    p = rule.params
    found = {
        "new_columns": (
            sorted(c for c in actual if c not in p.columns and not c.startswith("_")),
            p.new_column,
        ),
        "missing_columns": (sorted(c for c in p.columns if c not in actual), p.missing_column),
        "changed_types": (
            sorted(
                f"{c}: {p.columns[c]} -> {actual[c]}"
                for c in p.columns
                if c in actual and actual[c] != p.columns[c]
            ),
            p.type_change,
        ),
    }
    policies = {policy for columns, policy in found.values() if columns and policy != "ignore"}
    metadata: dict[str, Any] = {name: columns for name, (columns, _) in found.items()}
    if "error" in policies:
        return Verdict(None, False, metadata, severity="error")
    if "warn" in policies:
        return Verdict(None, False, metadata, severity="warn")
    return Verdict(None, True, metadata)
