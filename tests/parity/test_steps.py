"""Parity of the built-in steps: each step gives the same rows, types, rejects and counts.

Every case runs on the engine under test and on Pandas (the reference); the frames cross
to Arrow and are compared as sorted rows with declared types. Time zones: the dataflow zone
is Europe/Berlin for the cases marked so. Does not touch storage or Dagster.
"""

from typing import Any

import pytest
from pydantic import TypeAdapter

from dataplat_dagster.config.steps import Step
from dataplat_dagster.engines.base import Engine, StepError
from tests.parity.helpers import PANDAS, canonical, text_orders, typed_orders

STEPS = TypeAdapter(list[Step])
TEXT_CASES: dict[str, list[Any]] = {
    "trim": ["trim"],
    "trim_columns": [{"trim": ["status", "note"]}],
    "cast_ints": [{"cast": {"id": "int64", "customer": "int32"}}],
    "cast_float_bool": [{"cast": {"amount": "float64", "paid": "bool"}}],
    "cast_date": [{"cast": {"day": "date"}}],
    "cast_timestamp": [{"cast": {"at": "timestamp"}}],
    "cast_timestamp_ntz": [{"cast": {"at": "timestamp_ntz"}}],
    "parse_dates_iso": [{"parse_dates": ["at"]}],
    "parse_dates_null": [{"parse_dates": {"columns": {"at": None}, "on_error": "null"}}],
    "parse_dates_date_only": [{"parse_dates": {"columns": {"day": None}, "timestamp": False}}],
    "parse_dates_format": [{"parse_dates": {"columns": {"day": "%Y-%m-%d"}}}],
    "rename": [{"rename": {"note": "remark"}}],
    "dedupe_all": ["trim", "dedupe"],
    "dedupe_keys_first": [{"dedupe": {"keys": ["id"], "keep": "first"}}],
    "dedupe_keys_last": [{"dedupe": {"keys": ["id"], "keep": "last"}}],
    "dedupe_order_by": [
        {"dedupe": {"keys": ["customer"], "order_by": ["amount"], "keep": "first"}}
    ],
    "filter": [{"filter": "status like '%paid%' and customer <> '13'"}],
    "derive": [{"derive": {"label": "upper(trim(status)) || '-' || id", "n": "length(note)"}}],
    "select": [{"select": ["id", "status"]}],
    "drop_columns": [{"drop_columns": ["note", "paid"]}],
    "drop_null": [{"drop_null": ["customer", "status"]}],
    "fill_null": [{"fill_null": {"status": "unknown", "note": "-"}}],
    "chain": [
        "trim",
        {"cast": {"id": "int64", "amount": "float64", "at": "timestamp"}},
        {"dedupe": ["id"]},
        {"filter": "amount > 0"},
        {"derive": {"gross": "amount * 1.2", "whole": "cast(amount as integer) + 1"}},
    ],
}
TYPED_CASES: dict[str, list[Any]] = {
    "cast_to_string": [{"cast": {"quantity": "string", "paid": "string", "ordered_at": "string"}}],
    "cast_instant_to_date": [{"cast": {"ordered_at": "date"}}],
    "cast_wall_to_instant": [{"cast": {"local_at": "timestamp"}}],
    "cast_instant_to_wall": [{"cast": {"ordered_at": "timestamp_ntz"}}],
    "cast_float_to_int": [{"cast": {"price": "int64"}}],
    "cast_int_to_float": [{"cast": {"quantity": "float64"}}],
    "dedupe_typed": [{"dedupe": {"keys": ["order_id"]}}],
    "filter_time": [{"filter": "ordered_at >= '2024-01-02 00:00:00'"}],
    "derive_time": [{"derive": {"day": "cast(ordered_at as date)", "hour": "hour(ordered_at)"}}],
    "fill_null_typed": [{"fill_null": {"price": 0.0, "order_id": 0, "paid": False}}],
    "drop_null_typed": [{"drop_null": ["price", "order_id"]}],
}


def outcome_of(engine: Engine, table: Any, steps: list[Any], zone: str) -> dict[str, Any]:
    outcome = engine.apply_steps(
        engine.from_arrow(table), STEPS.validate_python(steps), label="staging.t", timezone=zone
    )
    rejects = [canonical(engine, r) for r in outcome.rejects]
    return {
        "frame": canonical(engine, outcome.frame),
        "rejects": rejects,
        "dropped": outcome.dropped,
        "removed": outcome.removed_by_window,
    }


def assert_same(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Piece by piece, so that a difference shows where it is."""
    assert got["frame"][0] == expected["frame"][0]  # columns and declared types
    for row, reference in zip(got["frame"][1], expected["frame"][1], strict=True):
        assert row == reference
    assert len(got["rejects"]) == len(expected["rejects"])
    for rejects, reference in zip(got["rejects"], expected["rejects"], strict=True):
        assert rejects == reference
    assert (got["dropped"], got["removed"]) == (expected["dropped"], expected["removed"])


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
@pytest.mark.parametrize("case", sorted(TEXT_CASES))
def test_text_steps_match_pandas(engine: Engine, case: str, zone: str) -> None:
    got = outcome_of(engine, text_orders(), TEXT_CASES[case], zone)
    assert_same(got, outcome_of(PANDAS, text_orders(), TEXT_CASES[case], zone))


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
@pytest.mark.parametrize("case", sorted(TYPED_CASES))
def test_typed_steps_match_pandas(engine: Engine, case: str, zone: str) -> None:
    got = outcome_of(engine, typed_orders(), TYPED_CASES[case], zone)
    assert_same(got, outcome_of(PANDAS, typed_orders(), TYPED_CASES[case], zone))


def test_cast_rejects_name_the_value_and_the_step(engine: Engine) -> None:
    got = outcome_of(engine, text_orders(), [{"cast": {"amount": "float64"}}], "UTC")
    (rejects,) = got["rejects"]
    schema, rows = rejects
    assert [name for name, _ in schema][-2:] == ["_dq_rule", "_dq_reason"]
    assert [(r[-2], r[-1]) for r in rows] == [
        ("cast_amount", "staging.t.steps[0] (cast): amount abc is not a valid float64")
    ]
    assert got["removed"] == {"2024-01-01": 1}


def test_dedupe_counts_per_window(engine: Engine) -> None:
    got = outcome_of(engine, text_orders(), [{"dedupe": ["id"]}], "UTC")
    assert got["dropped"] == {"staging.t.steps[0] (dedupe)": 1}  # "1" repeats across windows
    assert got["removed"] == {"2024-01-01": 1}


def test_a_bad_expression_names_the_step(engine: Engine) -> None:
    with pytest.raises(StepError, match=r"staging\.t\.steps\[0\] \(filter\)"):
        outcome_of(engine, text_orders(), [{"filter": "no_such_column > 1"}], "UTC")


def test_a_missing_column_is_named(engine: Engine) -> None:
    with pytest.raises(StepError, match="column\\(s\\) nope not found"):
        outcome_of(engine, text_orders(), [{"select": ["nope"]}], "UTC")
