"""Steps, SQL and rules on the Pandas engine follow the timestamp rule and keep integers exact.

Covers `cast` to timestamp / timestamp_ntz / date / int64 from text, from naive and from
zoned values in a New York dataflow, `parse_dates` with and without an offset and with
its own `timezone`, DuckDB sessions in the dataflow's zone (a date of an instant, an
instant compared with a naive time) with instants returned in UTC, and a `range` rule's
naive bound on an instant column. Frames built in the test; no files or runs.
"""

from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
from pydantic import TypeAdapter

from dataplat_dagster.config.rules import Rule
from dataplat_dagster.config.steps import Step
from dataplat_dagster.engines.base import StepOutcome
from dataplat_dagster.engines.pandas_engine import PandasEngine

ENGINE = PandasEngine()
STEPS = TypeAdapter(list[Step])
NY = "America/New_York"


def frame(**columns: Any) -> pd.DataFrame:
    return ENGINE.from_arrow(pa.table(columns))


def run(data: pd.DataFrame, steps: list[Any], timezone: str = NY) -> StepOutcome:
    return ENGINE.apply_steps(data, STEPS.validate_python(steps), label="s.t", timezone=timezone)


def utc(*parts: int) -> pd.Timestamp:
    return pd.Timestamp(datetime(*parts), tz="UTC")


def test_cast_text_to_every_temporal_type_in_new_york() -> None:
    text = ["2013-01-15T10:00:00Z", "2013-01-15T10:00:00", "2013-01-15T23:30:00-05:00"]
    days = ["2013-01-15", "2013-01-16", "2013-01-16T10:00:00"]
    outcome = run(
        frame(a=text, b=text, c=days),
        [{"cast": {"a": "timestamp", "b": "timestamp_ntz", "c": "date"}}],
    )
    result = outcome.frame
    assert str(result["a"].dtype) == "datetime64[us, UTC]"
    assert result["a"].tolist() == [utc(2013, 1, 15, 10), utc(2013, 1, 15, 15)]
    assert str(result["b"].dtype) == "datetime64[us]"
    assert result["b"].tolist() == [
        pd.Timestamp("2013-01-15 05:00"),
        pd.Timestamp("2013-01-15 10:00"),
    ]
    assert result["c"].tolist() == [date(2013, 1, 15), date(2013, 1, 16)]
    # a date is a date: text with a time is parse_dates' work (timestamp: false), not cast's
    (rejects,) = outcome.rejects
    assert rejects["_dq_reason"].tolist() == [
        "s.t.steps[0] (cast): c 2013-01-16T10:00:00 is not a valid date"
    ]


def test_cast_typed_values() -> None:
    naive = pd.Series(pd.to_datetime(["2013-01-15 10:00"]))  # nanoseconds, naive
    zoned = naive.dt.tz_localize("Asia/Kolkata")
    outcome = run(pd.DataFrame({"n": naive, "z": zoned, "d": zoned}),
                  [{"cast": {"n": "timestamp", "z": "timestamp", "d": "date"}}])  # fmt: skip
    assert outcome.frame["n"].tolist() == [utc(2013, 1, 15, 15)]  # wall clock in New York
    assert outcome.frame["z"].tolist() == [utc(2013, 1, 15, 4, 30)]  # same instant
    assert outcome.frame["d"].tolist() == [date(2013, 1, 14)]  # 04:30 UTC is 23:30 in New York


def test_cast_text_to_int64_is_exact() -> None:
    data = frame(id=["9223372036854775807", "123456789012345678", "1e3", "12.00"])
    outcome = run(data, [{"cast": {"id": "int64"}}])
    assert outcome.frame["id"].tolist() == [9223372036854775807, 123456789012345678, 12]
    (rejects,) = outcome.rejects
    assert rejects["_dq_reason"].tolist() == ["s.t.steps[0] (cast): id 1e3 is not a valid int64"]


def test_parse_dates_offsets_and_own_zone() -> None:
    data = frame(
        a=["15/01/2013 10:00", "x"], b=["2013-01-15T10:00:00+01:00", "2013-01-15T10:00:00"]
    )
    steps = [
        {"parse_dates": {"columns": {"a": "%d/%m/%Y %H:%M"}, "timezone": "Asia/Kolkata"}},
        {"parse_dates": {"columns": {"b": None}, "on_error": "null"}},
    ]
    outcome = run(data, steps)
    assert outcome.frame["a"].tolist() == [utc(2013, 1, 15, 4, 30)]
    assert outcome.frame["b"].tolist() == [utc(2013, 1, 15, 9)]
    (rejects,) = outcome.rejects
    assert rejects["_dq_reason"].tolist() == [
        "s.t.steps[0] (parse_dates): a x does not match %d/%m/%Y %H:%M"
    ]


def test_sql_runs_in_the_dataflow_zone_and_returns_utc() -> None:
    data = frame(
        ts=pa.array([datetime(2013, 1, 16, 3, 30, tzinfo=UTC)], pa.timestamp("us", tz="UTC"))
    )
    sql = (
        "select cast(ts as date) as day, ts, ts + interval 1 hour as later, "
        "ts < timestamp '2013-01-15 23:00:00' as before_11pm from {{ s.t }}"
    )
    result = ENGINE.run_sql(sql, {"s.t": data}, timezone=NY)
    assert result["day"].tolist() == [date(2013, 1, 15)]  # 22:30 in New York
    # a naive literal is a New York wall-clock time: 22:30 is before 23:00 there (not in UTC)
    assert result["before_11pm"].iloc[0]
    assert str(result["later"].dtype) == "datetime64[us, UTC]"
    assert result["later"].tolist() == [utc(2013, 1, 16, 4, 30)]
    derived = run(
        data,
        [
            {"derive": {"day": "cast(ts as date)"}},
            {"filter": "ts > timestamp '2013-01-15 22:00:00'"},
        ],
    )
    assert derived.frame["day"].tolist() == [date(2013, 1, 15)]
    assert len(derived.frame) == 1


def test_range_rule_bound_is_a_wall_clock_time_of_the_dataflow() -> None:
    data = frame(ts=pa.array([datetime(2013, 1, 15, 15, tzinfo=UTC), datetime(2013, 1, 15, 16, tzinfo=UTC)],
                             pa.timestamp("us", tz="UTC")))  # fmt: skip
    rule = TypeAdapter(Rule).validate_python({"range": {"column": "ts", "max": "2013-01-15 10:30"}})
    failing = ENGINE.rule_failures(data, rule, None, None, timezone=NY)
    assert failing.tolist() == [False, True]  # 10:00 and 11:00 in New York
