"""Parity of the built-in steps: each step gives the same rows, types, rejects and counts.

Every case runs on the engine under test and on Pandas (the reference); the frames cross
to Arrow and are compared as sorted rows with declared types. Time zones: the dataflow zone
is Europe/Berlin for the cases marked so. Does not touch storage or Dagster.
"""

from typing import Any

import pyarrow as pa
import pytest
from pydantic import TypeAdapter

from dataplat_dagster.config.steps import Step
from dataplat_dagster.engines.base import Engine, StepError
from tests.parity.helpers import DAYS, PANDAS, canonical, text_orders, typed_orders

STEPS = TypeAdapter(list[Step])
TEXT_CASES: dict[str, list[Any]] = {
    "trim_rename_select": [
        "trim",
        {"trim": ["note"]},
        {"rename": {"note": "remark"}},
        {"select": ["id", "status", "remark"]},
    ],
    "cast_text": [
        {"cast": {"id": "int64", "customer": "int32", "amount": "float64", "paid": "bool"}},
        {"cast": {"day": "date"}},
    ],
    "cast_timestamp": [{"cast": {"at": "timestamp"}}],
    "cast_timestamp_ntz": [{"cast": {"at": "timestamp_ntz"}}],
    "parse_dates_iso": [{"parse_dates": ["at"]}],
    "parse_dates_null_date_only": [
        {"parse_dates": {"columns": {"at": None}, "on_error": "null"}},
        {"parse_dates": {"columns": {"day": None}, "timestamp": False}},
    ],
    "parse_dates_format": [{"parse_dates": {"columns": {"day": "%Y-%m-%d"}}}],
    "dedupe_keys_first": [{"dedupe": {"keys": ["id"], "keep": "first"}}, "trim", "dedupe"],
    "dedupe_order_by": [{"dedupe": {"keys": ["customer"], "order_by": ["amount"], "keep": "last"}}],
    "filter_derive": [
        {"filter": "status like '%paid%' and customer <> '13'"},
        {"derive": {"label": "upper(trim(status)) || '-' || id", "n": "length(note)"}},
    ],
    "nulls_drop_columns": [
        {"fill_null": {"status": "unknown"}},
        {"drop_null": ["customer", "status"]},
        {"drop_columns": ["paid"]},
    ],
    "chain": [
        "trim",
        {"cast": {"id": "int64", "amount": "float64", "at": "timestamp"}},
        {"dedupe": ["id"]},
        {"filter": "amount > 0"},
        {"derive": {"gross": "amount * 1.2", "whole": "cast(amount as integer) + 1"}},
    ],
}
TYPED_CASES: dict[str, list[Any]] = {
    "cast_to_string_and_numbers": [
        {"cast": {"quantity": "string", "paid": "string", "ordered_at": "string"}},
        {"cast": {"price": "int64", "customer_id": "float64"}},
    ],
    "cast_instant_to_date_and_wall": [
        {"cast": {"ordered_at": "date", "local_at": "timestamp"}},
    ],
    "cast_instant_to_wall": [{"cast": {"ordered_at": "timestamp_ntz"}}],
    "dedupe_typed_nulls": [
        {"dedupe": {"keys": ["order_id"]}},
        {"fill_null": {"price": 0.0, "paid": False}},
        {"drop_null": ["order_id"]},
    ],
    "filter_derive_time": [
        {"filter": "ordered_at >= '2024-01-02 00:00:00'"},
        {"derive": {"day": "cast(ordered_at as date)", "hour": "hour(ordered_at)"}},
    ],
}


def outcome_of(engine: Engine, table: Any, steps: list[Any], zone: str) -> dict[str, Any]:
    outcome = engine.apply_steps(
        engine.from_arrow(table), STEPS.validate_python(steps), label="staging.t", timezone=zone
    )
    # the rejects of several columns may come as one frame or one per column: compared merged
    parts = [canonical(engine, r) for r in outcome.rejects]
    merged = sorted((row for _, rows in parts for row in rows), key=repr)
    rejects = [(parts[0][0], merged)] if merged else []
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


def zoned(cases: dict[str, list[Any]]) -> list[tuple[str, str]]:
    """Each case in UTC; those reading or writing times also in Europe/Berlin."""
    timed = ("time", "date", "timestamp", "instant", "wall", "chain")
    return [(case, "UTC") for case in sorted(cases)] + [
        (case, "Europe/Berlin") for case in sorted(cases) if any(t in case for t in timed)
    ]


@pytest.mark.parametrize(("case", "zone"), zoned(TEXT_CASES))
def test_text_steps_match_pandas(engine: Engine, case: str, zone: str) -> None:
    got = outcome_of(engine, text_orders(), TEXT_CASES[case], zone)
    assert_same(got, outcome_of(PANDAS, text_orders(), TEXT_CASES[case], zone))


@pytest.mark.parametrize(("case", "zone"), zoned(TYPED_CASES))
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


def test_dedupe_without_duplicates_keeps_every_row_in_order(engine: Engine) -> None:
    """No duplicate: nothing dropped or counted, and the rows keep the frame's order."""
    table = text_orders()  # its rows all differ (id 2's twin by its note)
    outcome = engine.apply_steps(
        engine.from_arrow(table), STEPS.validate_python(["dedupe"]), label="t"
    )
    assert outcome.dropped == {"t.steps[0] (dedupe)": 0}
    assert outcome.removed_by_window == {}
    assert engine.to_arrow(outcome.frame)["note"].to_pylist() == table["note"].to_pylist()


@pytest.mark.parametrize("keep", ["first", "last"])
def test_dedupe_counts_and_keeps_the_same_rows_as_pandas(engine: Engine, keep: str) -> None:
    """Duplicates in both windows and null keys: the counts per window and the row kept."""
    table = pa.table(
        {
            "k": ["a", "a", None, None, "a", "b", "a"],
            "v": ["1", "2", "3", "4", "5", "6", "7"],
            "_partition": [DAYS[0]] * 4 + [DAYS[1]] * 3,
        }
    )
    steps = [{"dedupe": {"keys": ["k"], "keep": keep}}]
    got = outcome_of(engine, table, steps, "UTC")
    assert got["removed"] == {DAYS[0]: 2, DAYS[1]: 1}
    assert got["dropped"] == {"staging.t.steps[0] (dedupe)": 3}
    assert_same(got, outcome_of(PANDAS, table, steps, "UTC"))


def test_dedupe_takes_zeros_and_nans_alike(engine: Engine) -> None:
    """0.0 and -0.0 are one value, and so are NaNs (Spark's hash of the keys agrees)."""
    nan = float("nan")
    table = pa.table({"x": [0.0, -0.0, nan, nan, 1.0], "_partition": [DAYS[0]] * 5})
    outcome = engine.apply_steps(
        engine.from_arrow(table), STEPS.validate_python(["dedupe"]), label="t"
    )
    assert outcome.removed_by_window == {DAYS[0]: 2}
    assert engine.row_count(outcome.frame) == 3


def test_a_bad_expression_names_the_step(engine: Engine) -> None:
    with pytest.raises(StepError, match=r"staging\.t\.steps\[0\] \(filter\)"):
        outcome_of(engine, text_orders(), [{"filter": "no_such_column > 1"}], "UTC")


def test_a_missing_column_is_named(engine: Engine) -> None:
    with pytest.raises(StepError, match="column\\(s\\) nope not found"):
        outcome_of(engine, text_orders(), [{"select": ["nope"]}], "UTC")


# Values Spark's own casts read differently from the landing rules (hex, d/f suffixes, a
# date with a time, loose dates, any Unicode space): the Spark engine casts natively first
# and must fall back to the rules for exactly these (engines/spark_casts.py `text_to`)
EDGE_TEXT = {
    "i": [
        *("007", "-0", "1.5", "12.00", "+5", "1e3", " 42 ", "\u30007", "9223372036854775808"),
        *("0x10", "1_000", "--1"),
    ],
    "f": [
        *("1.5d", "2f", "0x1p3", "Infinity", "-inf", ".5", "5.", "1e-3", "\u00a03.25"),
        *("-0x1P3", "+0X1p3", "1.5\t"),
    ],
    "d": [
        "2024-1-5",
        "2024-01-05T00:00",
        "2024-01-05 ",
        "20240105",
        "2024-01-05 12:00",
        "2024-01",
        "2024-02-30",
        "\u20032024-03-01",
        "2024-03-01",
        "+2024-01-05",
        "2024-01-05\t",
        "02024-01-05",
    ],
}


def test_native_casts_fall_back_to_the_landing_rules(engine: Engine) -> None:
    import pyarrow as pa

    rows = len(EDGE_TEXT["i"])
    table = pa.table({**EDGE_TEXT, "_partition": ["2024-01-01"] * rows})
    steps = [{"cast": {"i": "int64", "f": "float64", "d": "date"}}]
    got = outcome_of(engine, table, steps, "UTC")
    assert_same(got, outcome_of(PANDAS, table, steps, "UTC"))


def test_trim_takes_any_unicode_space_off_either_end_only(engine: Engine) -> None:
    """Spaces of every kind at either end, and values with none to take.

    Characters beyond ASCII that are no space, control characters that are no space,
    blanks (engines/spark_casts.py `strip` trims only values whose end bytes may belong
    to spaces).
    """
    import pyarrow as pa

    values = ["a", " a", "a ", "\u00a0a", "a\u3000", "\x85a\x85", "café", "élan", "\x01a\x01"]
    values += ["a b", "", "\t\n", " é ", "\u2003\u2003", None]
    # ends looked at by their bytes: a space whose last UTF-8 byte is 0x80, DEL, one character
    values += ["a\u2000", "\u2000a", "\x7fa\x7f", "!", "\u00e9\u00a0\u00a0"]
    table = pa.table({"note": values, "_partition": ["2024-01-01"] * len(values)})
    assert_same(
        outcome_of(engine, table, ["trim"], "UTC"), outcome_of(PANDAS, table, ["trim"], "UTC")
    )
    trimmed = engine.to_arrow(
        engine.apply_steps(
            engine.from_arrow(table), STEPS.validate_python(["trim"]), label="t"
        ).frame
    )["note"].to_pylist()
    assert trimmed[:9] == ["a"] * 6 + ["café", "élan", "\x01a\x01"]
    assert trimmed[9:15] == ["a b", None, None, "é", None, None]
    assert trimmed[15:] == ["a", "a", "\x7fa\x7f", "!", "é"]
