"""Column-map expectations evaluated with pandas give GE's own verdicts, window by window."""

import numpy as np
import pandas as pd
import pytest

from dataplat_dagster.checks import great_expectations as gx_rules
from dataplat_dagster.engines.pandas_engine import PandasEngine

ENGINE = PandasEngine()
TEXT = pd.StringDtype("pyarrow")


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "small": pd.array([1, 5, None, 3000, 7, -3, None, None], dtype="Int32"),
            "big": pd.array([2**40, 3, 4, 5, 6, 7, 8, -(2**40)], dtype="int64"),
            "ratio": [1.0, np.nan, 2.5, 3.0, -1.0, 0.0, 0.5, np.nan],
            "code": pd.array(["x", "y", None, "z", "x", "q", None, None], dtype=TEXT),
            "_partition": pd.Categorical(["d1", "d1", "d1", "d2", "d2", "d2", "d3", "d3"]),
        }
    )


def _expectation(kind: str, **kwargs: object) -> dict:
    return {"type": kind, "kwargs": kwargs, "meta": {}}


EXPECTATIONS = [
    _expectation("expect_column_values_to_be_between", column="small", min_value=0, max_value=2359),
    _expectation("expect_column_values_to_be_between", column="big", max_value=10, strict_max=True),
    _expectation(
        "expect_column_values_to_be_between",
        column="ratio",
        min_value=0,
        strict_min=True,
        mostly=0.5,
    ),
    _expectation("expect_column_values_to_be_in_set", column="code", value_set=["x", "y"]),
    _expectation("expect_column_values_to_be_in_set", column="small", value_set=[1, 5, 7]),
    _expectation("expect_column_values_to_not_be_null", column="code"),
    _expectation("expect_column_values_to_not_be_null", column="ratio", mostly=0.6),
    _expectation("expect_column_values_to_be_unique", column="code"),  # left to GE
]


@pytest.mark.parametrize(
    ("keys", "rows"),
    [
        (["d1", "d2", "d3"], slice(None)),
        ([None], slice(None)),
        ([None], slice(0, 0)),
    ],
    ids=["three windows", "unpartitioned", "no rows"],
)
def test_native_verdicts_equal_great_expectations(keys: list, rows: slice) -> None:
    frame = _frame().iloc[rows]
    if keys == [None]:
        frame = frame.drop(columns="_partition")
    native = gx_rules.validate_suite(ENGINE, frame, EXPECTATIONS, keys)
    by_ge = gx_rules._validate_with_ge(ENGINE, frame, EXPECTATIONS, keys)
    assert native.keys() == by_ge.keys() == set(keys)
    for key in keys:
        assert [(v.passed, v.metadata) for v in native[key]] == [
            (v.passed, v.metadata) for v in by_ge[key]
        ]
        # in suite order: the n-th verdict is the n-th expectation's
        assert [v.metadata["expectation"] for v in native[key]] == [e["type"] for e in EXPECTATIONS]
    if keys[0] == "d1":
        small = [native[k][0] for k in keys]
        assert [v.passed for v in small] == [True, False, True]
        assert small[1].metadata["partial_unexpected_list"] == ["3000", "-3"]


def test_only_known_shapes_are_native() -> None:
    frame = _frame()
    assert gx_rules._is_native(ENGINE, frame, EXPECTATIONS[0])
    assert not gx_rules._is_native(ENGINE, frame, EXPECTATIONS[-1])  # another expectation
    condition = _expectation(
        "expect_column_values_to_not_be_null", column="code", row_condition="small>1"
    )
    assert not gx_rules._is_native(ENGINE, frame, condition)  # an argument GE interprets
    text_bounds = _expectation("expect_column_values_to_be_between", column="code", min_value="a")
    assert not gx_rules._is_native(ENGINE, frame, text_bounds)
    missing = _expectation("expect_column_values_to_not_be_null", column="nope")
    assert not gx_rules._is_native(ENGINE, frame, missing)  # GE reports the missing column
