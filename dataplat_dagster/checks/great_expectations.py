"""Great Expectations 1.x suites as checks: one asset check per expectation.

Called directly: the dagster-ge integration requires GE below 1.0. GE is imported only when
a table declares a `great_expectations` rule, since the import alone takes seconds, and through
`optional_imports`, so that its import-time pyspark checks cannot end a run worker.
"""

import functools
import math
from typing import Any

from dataplat_dagster.checks.verdicts import Verdict
from dataplat_dagster.engines.base import Engine
from dataplat_dagster.optional_imports import great_expectations

_RESULT_FIELDS = (
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "missing_count",
    "observed_value",
    "partial_unexpected_list",
)


@functools.cache
def _batch_definition() -> Any:
    gx = great_expectations()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("dataplat").add_dataframe_asset("window")
    return asset.add_batch_definition_whole_dataframe("whole_window")


def _suite(expectations: list[dict[str, Any]]) -> Any:
    great_expectations()
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    suite = ExpectationSuite(name="dataplat")
    for expectation in expectations:
        suite.add_expectation_configuration(
            ExpectationConfiguration(
                type=expectation["type"], kwargs=expectation["kwargs"], meta=expectation["meta"]
            )
        )
    return suite


def validate_suite(
    engine: Engine, frame: Any, expectations: list[dict[str, Any]], keys: list[str | None]
) -> dict[str | None, list[Verdict]]:
    """Validate every window's rows; window -> one verdict per expectation, in suite order."""
    suite = _suite(expectations)
    batch_definition = _batch_definition()
    verdicts: dict[str | None, list[Verdict]] = {}
    for key, rows in engine.slices(frame, keys) if keys != [None] else [(None, frame)]:
        data = engine.to_pandas(engine.drop_columns(rows, ["_partition"]))
        result = batch_definition.get_batch(batch_parameters={"dataframe": data}).validate(suite)
        verdicts[key] = [
            Verdict(
                key,
                bool(item.success),
                {**_details(item.result), "expectation": item.expectation_config.type},
            )
            for item in result.results
        ]
    return verdicts


def _details(result: dict[str, Any]) -> dict[str, Any]:
    return {name: _plain(result[name]) for name in _RESULT_FIELDS if name in result}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value[:20]]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)
