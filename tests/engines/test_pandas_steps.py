"""Built-in steps on the Pandas engine (`PandasEngine.apply_steps`).

Covers every step kind (steps validated from their YAML shape through pydantic), the
rejects/dropped bookkeeping and StepError messages. SQL and window slicing are in
test_pandas_engine.py. Frames are built in the test; no declarations, files or Dagster runs.
"""

from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from pydantic import TypeAdapter

from dataplat_dagster.config.steps import Step
from dataplat_dagster.engines.base import StepError, StepOutcome
from dataplat_dagster.engines.pandas_engine import PandasEngine

ENGINE = PandasEngine()
STEPS = TypeAdapter(list[Step])
LABEL = "staging.t"


def frame(**columns: Any) -> pd.DataFrame:
    """A frame the way the engine gets it from Arrow (nullable ints, Arrow strings)."""
    return ENGINE.from_arrow(pa.table(columns))


def run(data: pd.DataFrame, steps: list[Any]) -> StepOutcome:
    return ENGINE.apply_steps(data, STEPS.validate_python(steps), label=LABEL)


def records(data: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if pd.isna(v) else v) for k, v in row.items()} for row in data.to_dict("records")
    ]


def windows(*parts: tuple[str, pd.DataFrame]) -> pd.DataFrame:
    return ENGINE.concat([ENGINE.with_partition(part, key) for key, part in parts])


# -- steps ------------------------------------------------------------------------------------


def test_trim_strips_and_turns_empty_into_null() -> None:
    data = frame(
        name=[" a ", "", "   ", None, "b"], code=[" x", "y ", "z", "w", "v"], n=[1, 2, 3, 4, 5]
    )
    outcome = run(data, ["trim"])
    assert records(outcome.frame) == [
        {"name": "a", "code": "x", "n": 1},
        {"name": None, "code": "y", "n": 2},
        {"name": None, "code": "z", "n": 3},
        {"name": None, "code": "w", "n": 4},
        {"name": "b", "code": "v", "n": 5},
    ]
    assert outcome.dropped == {} and outcome.rejects == []
    only = run(data, [{"trim": ["code"]}]).frame
    assert only["name"].tolist()[0] == " a " and only["code"].tolist()[0] == "x"


def test_cast_rejects_values_that_do_not_convert() -> None:
    data = frame(id=["1", " 2 ", "x", None, "2.5"], v=["a", "b", "c", "d", "e"])
    outcome = run(data, ["trim", {"cast": {"id": "int64"}}])
    assert outcome.frame["id"].dtype == pd.Int64Dtype()
    assert records(outcome.frame) == [
        {"id": 1, "v": "a"},
        {"id": 2, "v": "b"},
        {"id": None, "v": "d"},
    ]
    rejects = pd.concat(outcome.rejects)
    assert rejects["v"].tolist() == ["c", "e"]
    assert rejects["_dq_rule"].tolist() == ["cast_id", "cast_id"]
    assert rejects["_dq_reason"].tolist() == [
        f"{LABEL}.steps[1] (cast): id x is not a valid int64",
        f"{LABEL}.steps[1] (cast): id 2.5 is not a valid int64",
    ]


@pytest.mark.parametrize(
    ("target", "values", "expected"),
    [
        ("float64", ["1.5", "2"], [1.5, 2.0]),
        ("int32", ["7", "-3"], [7, -3]),
        ("bool", ["true", "0"], [True, False]),
        ("string", ["a", "b"], ["a", "b"]),
        (
            "timestamp",
            ["2024-01-02T03:04:05", "2024-01-03"],
            [pd.Timestamp("2024-01-02 03:04:05", tz="UTC"), pd.Timestamp("2024-01-03", tz="UTC")],
        ),
    ],
)
def test_cast_types(target: str, values: list[str], expected: list[Any]) -> None:
    outcome = run(frame(c=values), [{"cast": {"c": target}}])
    assert outcome.frame["c"].tolist() == expected
    assert outcome.rejects == []


def test_rename() -> None:
    outcome = run(frame(a=[1], b=["x"]), [{"rename": {"a": "id"}}])
    assert list(outcome.frame.columns) == ["id", "b"]


DUPES = {"k": [1, 1, 2, 2, 3], "v": ["a", "b", "c", "d", "e"], "o": [2, 1, 1, 2, 1]}


@pytest.mark.parametrize(
    ("params", "kept"),
    [
        ({"keys": ["k"], "keep": "first", "order_by": ["o"]}, ["b", "c", "e"]),
        ({"keys": ["k"], "keep": "last", "order_by": ["o"]}, ["a", "d", "e"]),
        (["k"], ["b", "d", "e"]),  # shorthand: keep the last in file order
        ({"keys": "k", "keep": "first"}, ["a", "c", "e"]),
    ],
)
def test_dedupe(params: Any, kept: list[str]) -> None:
    outcome = run(frame(**DUPES), [{"dedupe": params}])
    assert outcome.frame["v"].tolist() == kept  # survivors keep their original order
    assert outcome.dropped == {f"{LABEL}.steps[0] (dedupe)": 2}


def test_dedupe_whole_rows() -> None:
    outcome = run(frame(a=[1, 1, 1], b=["x", "x", "y"]), ["dedupe"])
    assert records(outcome.frame) == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}]


def test_dedupe_is_per_window() -> None:
    part = frame(k=[1, 1], v=["a", "b"])
    outcome = run(windows(("2024-01-01", part), ("2024-01-02", part)), [{"dedupe": ["k"]}])
    assert outcome.frame["v"].tolist() == ["b", "b"]
    assert outcome.frame["_partition"].astype(str).tolist() == ["2024-01-01", "2024-01-02"]
    assert outcome.dropped == {f"{LABEL}.steps[0] (dedupe)": 2}


def test_parse_dates_fail_rejects() -> None:
    data = frame(s=["05/01/2024", "bad", None, "2024-01-05"], x=[1, 2, 3, 4])
    outcome = run(data, [{"parse_dates": {"columns": {"s": "%d/%m/%Y"}, "timestamp": False}}])
    assert records(outcome.frame) == [
        {"s": pd.Timestamp("2024-01-05").date(), "x": 1},
        {"s": None, "x": 3},
    ]
    rejects = pd.concat(outcome.rejects)
    assert rejects["x"].tolist() == ["2", "4"]  # quarantine keeps the values as text, as seen
    assert set(rejects["_dq_rule"]) == {"parse_dates_s"}
    assert (
        rejects["_dq_reason"].tolist()[0]
        == f"{LABEL}.steps[0] (parse_dates): s bad does not match %d/%m/%Y"
    )


def test_parse_dates_null_on_error() -> None:
    data = frame(s=["05/01/2024 10:30", "bad"])
    outcome = run(data, [{"parse_dates": {"columns": {"s": "%d/%m/%Y %H:%M"}, "on_error": "null"}}])
    assert outcome.frame["s"].tolist()[0] == pd.Timestamp("2024-01-05 10:30", tz="UTC")
    assert pd.isna(outcome.frame["s"].tolist()[1])
    assert outcome.rejects == []


def test_parse_dates_shorthand_is_iso() -> None:
    outcome = run(frame(s=["2024-01-05T06:07:08"]), [{"parse_dates": ["s"]}])
    assert outcome.frame["s"].tolist() == [pd.Timestamp("2024-01-05 06:07:08", tz="UTC")]


def test_filter_counts_dropped_rows() -> None:
    outcome = run(frame(**DUPES), [{"filter": "v <> 'a' and k < 3"}, {"filter": "o = 1"}])
    assert outcome.frame["v"].tolist() == ["b", "c"]
    assert outcome.dropped == {f"{LABEL}.steps[0] (filter)": 2, f"{LABEL}.steps[1] (filter)": 1}


def test_filter_drops_rows_where_the_expression_is_null() -> None:
    outcome = run(frame(a=pa.array([1, None, 3], pa.int64())), [{"filter": "a > 1"}])
    assert outcome.frame["a"].tolist() == [3]
    assert outcome.dropped == {f"{LABEL}.steps[0] (filter)": 2}


def test_derive_adds_and_replaces_columns() -> None:
    outcome = run(
        frame(q=[2, 3], p=[1.5, 2.0], s=["Open", "TEST"]),
        [{"derive": {"amount": "q * p", "s": "lower(s)"}}],
    )
    assert records(outcome.frame) == [
        {"q": 2, "p": 1.5, "s": "open", "amount": 3.0},
        {"q": 3, "p": 2.0, "s": "test", "amount": 6.0},
    ]


def test_derive_after_filter_keeps_rows_aligned() -> None:
    outcome = run(frame(k=[1, 2, 3, 4]), [{"filter": "k % 2 = 0"}, {"derive": {"double": "k * 2"}}])
    assert records(outcome.frame) == [{"k": 2, "double": 4}, {"k": 4, "double": 8}]


def test_select_keeps_partition() -> None:
    part = frame(a=[1], b=["x"], c=[True])
    outcome = run(windows(("2024-01-01", part)), [{"select": ["b", "a"]}])
    assert list(outcome.frame.columns) == ["b", "a", "_partition"]


def test_drop_columns() -> None:
    outcome = run(frame(a=[1], b=["x"], c=[True]), [{"drop_columns": ["b", "c"]}])
    assert list(outcome.frame.columns) == ["a"]


def test_drop_null_counts() -> None:
    data = frame(a=pa.array([1, None, 3, 4], pa.int64()), b=["x", "y", None, "z"])
    outcome = run(data, [{"drop_null": ["a", "b"]}])
    assert outcome.frame["a"].tolist() == [1, 4]
    assert outcome.dropped == {f"{LABEL}.steps[0] (drop_null)": 2}


def test_fill_null() -> None:
    data = frame(
        a=pa.array([1, None], pa.int64()), b=[None, "y"], c=pa.array([None, None], pa.string())
    )
    outcome = run(data, [{"fill_null": {"a": 0, "b": "none"}}])
    assert records(outcome.frame) == [
        {"a": 1, "b": "none", "c": None},
        {"a": 0, "b": "y", "c": None},
    ]
    assert outcome.frame["a"].dtype == pd.Int64Dtype()


@pytest.mark.parametrize(
    ("steps", "index", "column"),
    [
        ([{"select": ["nope"]}], 0, "nope"),
        (["trim", {"cast": {"nope": "int64"}}], 1, "nope"),
        ([{"rename": {"nope": "x"}}], 0, "nope"),
        ([{"dedupe": {"keys": ["a"], "order_by": ["nope"]}}], 0, "nope"),
        ([{"rename": {"a": "b2"}}, {"drop_null": ["a"]}], 1, "a"),
        ([{"filter": "nope > 1"}], 0, "nope"),
        ([{"derive": {"x": "nope + 1"}}], 0, "nope"),
        ([{"parse_dates": ["nope"]}], 0, "nope"),
        ([{"fill_null": {"nope": 1}}], 0, "nope"),
    ],
)
def test_unknown_column_names_the_step(steps: list[Any], index: int, column: str) -> None:
    with pytest.raises(StepError) as caught:
        run(frame(a=[1], b=["x"]), steps)
    assert str(caught.value).startswith(f"{LABEL}.steps[{index}]")
    assert column in str(caught.value)
