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

_ORDER = "dataplat_order"  # meta key: an expectation's place in its suite
_RESULT_FIELDS = (
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "missing_count",
    "observed_value",
    "partial_unexpected_list",
)


@functools.cache
def _batch_definition(kind: str = "pandas") -> Any:
    """A whole-dataframe batch of GE's pandas or Spark datasource (`kind`)."""
    gx = great_expectations()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    sources = context.data_sources
    source = sources.add_spark("dataplat") if kind == "spark" else sources.add_pandas("dataplat")
    asset = source.add_dataframe_asset("window")
    return asset.add_batch_definition_whole_dataframe("whole_window")


def _suite(expectations: list[dict[str, Any]]) -> Any:
    great_expectations()
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    suite = ExpectationSuite(name="dataplat")
    for order, expectation in enumerate(expectations):
        # GE returns results grouped its own way, not in suite order: the meta puts them back
        meta = {**(expectation.get("meta") or {}), _ORDER: order}
        suite.add_expectation_configuration(
            ExpectationConfiguration(
                type=expectation["type"], kwargs=expectation["kwargs"], meta=meta
            )
        )
    return suite


def validate_suite(
    engine: Engine, frame: Any, expectations: list[dict[str, Any]], keys: list[str | None]
) -> dict[str | None, list[Verdict]]:
    """Validate every window's rows; window -> one verdict per expectation, in suite order.

    The column-map expectations of `_NATIVE` are evaluated over all windows at once with
    pandas; the others by GE, window by window.
    """
    if engine.name == "spark":  # GE validates Spark DataFrames on the cluster (no pandas copy)
        return _validate_with_ge(engine, frame, expectations, keys)
    native = [_is_native(engine, frame, e) for e in expectations]
    by_ge = [e for e, own in zip(expectations, native, strict=True) if not own]
    verdicts: dict[str | None, list[Verdict]] = {key: [] for key in keys}
    from_ge = _validate_with_ge(engine, frame, by_ge, keys) if by_ge else {}
    from_pandas = iter(
        _validate_natively(engine, frame, [e for e, own in zip(expectations, native) if own], keys)
    )
    ge_index = 0
    for own in native:
        if own:
            by_window = next(from_pandas)
            for key in keys:
                verdicts[key].append(by_window[key])
        else:
            for key in keys:
                verdicts[key].append(from_ge[key][ge_index])
            ge_index += 1
    return verdicts


def _validate_with_ge(
    engine: Engine, frame: Any, expectations: list[dict[str, Any]], keys: list[str | None]
) -> dict[str | None, list[Verdict]]:
    suite = _suite(expectations)
    on_spark = engine.name == "spark"
    batch_definition = _batch_definition("spark" if on_spark else "pandas")
    verdicts: dict[str | None, list[Verdict]] = {}
    for key, rows in engine.slices(frame, keys) if keys != [None] else [(None, frame)]:
        data = engine.drop_columns(rows, ["_partition"])
        data = data if on_spark else engine.to_pandas(data)
        result = batch_definition.get_batch(batch_parameters={"dataframe": data}).validate(suite)
        items = sorted(result.results, key=lambda item: item.expectation_config.meta[_ORDER])
        verdicts[key] = [
            Verdict(
                key,
                bool(item.success),
                {**_details(item.result), "expectation": item.expectation_config.type},
            )
            for item in items
        ]
    return verdicts


# Column-map expectations evaluated with pandas instead of GE, with GE's results (the tests in
# tests/checks compare both): importing GE costs 3.5 to 8 s per process (scipy, altair, pyspark),
# more than the rest of a one-window run, and GE validates a range window by window.
_NATIVE = {
    "expect_column_values_to_be_between": {"min_value", "max_value", "strict_min", "strict_max"},
    "expect_column_values_to_be_in_set": {"value_set"},
    "expect_column_values_to_not_be_null": set(),
}
_PARTIAL_LIST = 20  # GE's partial_unexpected_list length


def _is_native(engine: Engine, frame: Any, expectation: dict[str, Any]) -> bool:
    kind, kwargs = expectation["type"], expectation["kwargs"]
    allowed = _NATIVE.get(kind)
    if allowed is None or not set(kwargs) <= allowed | {"column", "mostly"}:
        return False
    column = kwargs.get("column")
    if column not in engine.column_names(frame):
        return False  # GE says what is wrong
    if kind == "expect_column_values_to_be_between":
        import pandas as pd

        bounds = [kwargs.get("min_value"), kwargs.get("max_value")]
        numbers = all(
            b is None or (isinstance(b, int | float) and not isinstance(b, bool)) for b in bounds
        )
        dtype = engine.to_pandas(frame)[column].dtype
        return (
            numbers
            and pd.api.types.is_numeric_dtype(dtype)
            and not pd.api.types.is_bool_dtype(dtype)
        )
    return True


def _validate_natively(
    engine: Engine, frame: Any, expectations: list[dict[str, Any]], keys: list[str | None]
) -> list[dict[str | None, Verdict]]:
    import numpy as np

    data = engine.to_pandas(frame)
    codes = engine.window_codes(frame, keys)
    windows = len(keys)
    rows = np.bincount(codes[codes >= 0], minlength=windows)
    results = []
    for expectation in expectations:
        kind, kwargs = expectation["type"], expectation["kwargs"]
        values = data[kwargs["column"]]
        missing = values.isna().to_numpy()
        if kind == "expect_column_values_to_not_be_null":
            unexpected, judged = missing, rows
        else:
            unexpected = ~missing & ~_expected(kind, kwargs, values)
            judged = rows - np.bincount(codes[(codes >= 0) & missing], minlength=windows)
        counts = np.bincount(codes[(codes >= 0) & unexpected], minlength=windows)
        by_window = {}
        failing = {  # the first unexpected values of each window that has some
            index: list(values[unexpected & (codes == index)].iloc[:_PARTIAL_LIST])
            for index in np.flatnonzero(counts).tolist()
        }
        for index, key in enumerate(keys):
            partial = failing.get(index, [])
            bad, total = int(counts[index]), int(judged[index])
            details: dict[str, Any] = {
                "element_count": int(rows[index]),
                "unexpected_count": bad,
                "unexpected_percent": bad / total * 100 if total else None,
            }
            if kind != "expect_column_values_to_not_be_null":
                details["missing_count"] = int(rows[index] - judged[index])
            details["partial_unexpected_list"] = partial
            passed = not total or (1 - bad / total) >= kwargs.get("mostly", 1)
            by_window[key] = Verdict(key, bool(passed), {**_details(details), "expectation": kind})
        results.append(by_window)
    return results


def _expected(kind: str, kwargs: dict[str, Any], values: Any) -> Any:
    """Rows meeting the expectation (nulls are counted apart, as GE does)."""
    import numpy as np

    if kind == "expect_column_values_to_be_in_set":
        return values.isin(list(kwargs["value_set"])).to_numpy(dtype=bool)
    numbers = values.astype("float64").to_numpy(dtype="float64", na_value=np.nan)
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    ok = np.ones(len(numbers), dtype=bool)
    if low is not None:
        ok &= numbers > low if kwargs.get("strict_min") else numbers >= low
    if high is not None:
        ok &= numbers < high if kwargs.get("strict_max") else numbers <= high
    return ok


def _details(result: dict[str, Any]) -> dict[str, Any]:
    return {name: _plain(result[name]) for name in _RESULT_FIELDS if name in result}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if type(value).__name__ == "NAType":  # pandas' missing value: null, as on Spark
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value[:20]]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)
