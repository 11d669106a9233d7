"""SQL and window slicing on the Pandas engine.

Covers `PandasEngine.run_sql` with `{{ layer.table }}` placeholders and its TransformError,
and `split`/`slices` by `_partition` (every key yielded, empty windows, stray and null
windows). Built-in steps are in test_pandas_steps.py. Frames are built in the test; no
declarations, files or Dagster runs.
"""

from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from dataplat_dagster.engines.base import TransformError
from dataplat_dagster.engines.pandas_engine import PandasEngine
from dataplat_dagster.types import TEXT

ENGINE = PandasEngine()


def frame(**columns: Any) -> pd.DataFrame:
    """A frame the way the engine gets it from Arrow (nullable ints, Arrow strings)."""
    return ENGINE.from_arrow(pa.table(columns))


def records(data: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if pd.isna(v) else v) for k, v in row.items()} for row in data.to_dict("records")
    ]


def windows(*parts: tuple[str, pd.DataFrame]) -> pd.DataFrame:
    return ENGINE.concat([ENGINE.with_partition(part, key) for key, part in parts])


# -- SQL ----------------------------------------------------------------------------------------


def test_run_sql_with_placeholders() -> None:
    orders = frame(id=[1, 2, 3], cid=[10, 10, 20], amt=[1.0, 2.0, 4.0])
    customers = frame(cid=[10, 20], country=["FR", "DE"])
    sql = """select c.country, sum(o.amt) as total, count(*) as n
             from {{ staging.orders }} o join {{common.customers}} c using (cid)
             group by all order by country"""
    result = ENGINE.run_sql(sql, {"staging.orders": orders, "common.customers": customers})
    assert isinstance(result, pd.DataFrame)
    assert records(result) == [
        {"country": "DE", "total": 4.0, "n": 1},
        {"country": "FR", "total": 3.0, "n": 2},
    ]
    assert result["country"].dtype == TEXT


def test_run_sql_error_contains_the_sql() -> None:
    sql = "select nope from {{ staging.orders }}"
    with pytest.raises(TransformError) as caught:
        ENGINE.run_sql(sql, {"staging.orders": frame(id=[1])})
    assert "SQL failed" in str(caught.value)
    assert "nope" in str(caught.value)
    assert sql in str(caught.value)


# -- windows --------------------------------------------------------------------------------------

KEYS = ["2024-01-01", "2024-01-02", "2024-01-03"]


def test_split_yields_every_key() -> None:
    data = windows(("2024-01-01", frame(id=[1, 2])), ("2024-01-03", frame(id=[3])))
    parts = dict(ENGINE.split(data, KEYS))
    assert list(parts) == KEYS
    assert all(table.column_names == ["id"] for table in parts.values())
    assert [parts[k]["id"].to_pylist() for k in KEYS] == [[1, 2], [], [3]]


def test_slices_yields_every_key() -> None:
    data = windows(("2024-01-01", frame(id=[1, 2])), ("2024-01-03", frame(id=[3])))
    parts = dict(ENGINE.slices(data, KEYS))
    assert [parts[k]["id"].tolist() for k in KEYS] == [[1, 2], [], [3]]


def test_split_of_text_partition_column() -> None:
    data = frame(id=[1, 2, 3], _partition=["2024-01-02", "2024-01-01", "2024-01-02"])
    parts = dict(ENGINE.split(data, KEYS[:2]))
    assert parts["2024-01-01"]["id"].to_pylist() == [2]
    assert parts["2024-01-02"]["id"].to_pylist() == [1, 3]


def test_split_without_partition_column() -> None:
    assert [(k, t.num_rows) for k, t in ENGINE.split(frame(id=[1, 2]), ["2024-01-05"])] == [
        ("2024-01-05", 2)
    ]
    with pytest.raises(TransformError, match="needs a _partition column"):
        list(ENGINE.split(frame(id=[1, 2]), KEYS))


@pytest.mark.parametrize("method", ["split", "slices"])
def test_stray_window_is_an_error(method: str) -> None:
    data = windows(("2024-01-01", frame(id=[1])), ("2024-01-09", frame(id=[2])))
    with pytest.raises(TransformError) as caught:
        list(getattr(ENGINE, method)(data, KEYS))
    assert "2024-01-09" in str(caught.value)
    assert "2024-01-01..2024-01-03" in str(caught.value)


def test_null_window_is_an_error() -> None:
    data = frame(id=[1, 2], _partition=["2024-01-01", None])
    with pytest.raises(TransformError, match="null"):
        list(ENGINE.split(data, KEYS))
