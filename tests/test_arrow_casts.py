"""Text to typed Arrow values, exact, value by value (`dataplat_dagster.arrow_casts`).

Covers integers at the int64 limits and past them (never through float64), the narrower
integer types' ranges, the integer spellings accepted ("+5", "12.00"), floats, booleans,
ISO dates, blank and null text, and `cast_each` finding scattered bad values in a long
array. Arrow arrays built in the test only.
"""

import numpy as np
import pyarrow as pa
import pytest

from dataplat_dagster.arrow_casts import cast_each, text_to


def test_int64_is_exact_at_its_limits() -> None:
    text = pa.array(
        ["9223372036854775807", "-9223372036854775808", "123456789012345678", "x", None]
    )
    values, failed = text_to(text, "int64")
    assert values.to_pylist()[:3] == [
        9223372036854775807,
        -9223372036854775808,
        123456789012345678,
    ]
    assert failed.tolist() == [False, False, False, True, False]


@pytest.mark.parametrize(
    ("kind", "text", "expected", "failed"),
    [
        ("int64", ["9223372036854775808", "-9223372036854775809"], [None, None], [True, True]),
        ("int8", ["127", "-128", "128", "300"], [127, -128, None, None], [False, False, True, True]),
        ("int32", ["+5", " 12.00 ", "1.5", "1e3"], [5, 12, None, None], [False, False, True, True]),
        ("float64", ["1.5", "-.5e-3", "inf", "1,5"], [1.5, -0.0005, float("inf"), None],
         [False, False, False, True]),
        ("bool", ["True", "no", "Y", "maybe", ""], [True, False, True, None, None],
         [False, False, False, True, False]),
        ("date", ["2024-01-05", "2024-02-30", "2024-01-05T10:00", "  "], [
            __import__("datetime").date(2024, 1, 5), None, None, None],
         [False, True, True, False]),
    ],
)  # fmt: skip
def test_text_to_types(kind: str, text: list, expected: list, failed: list) -> None:
    values, bad = text_to(pa.array(text, pa.string()), kind)
    assert values.to_pylist() == expected
    assert bad.tolist() == failed


def test_cast_each_finds_scattered_bad_values() -> None:
    text = [str(n) for n in range(10_000)]
    for index in (0, 17, 4_999, 9_999):
        text[index] = "99999999999"  # too large for int32
    values, bad = cast_each(pa.array(text), pa.int32())
    assert np.flatnonzero(bad).tolist() == [0, 17, 4_999, 9_999]
    assert values[1].as_py() == 1 and values[17].as_py() is None and values.null_count == 4
