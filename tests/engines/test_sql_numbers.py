"""The numbers DuckDB returns, normalised before they reach a table (`sql.normalise_numbers`).

Covers: integer aggregates (HUGEINT from `sum`, `count_if`, UHUGEINT, whole DECIMALs) as
int64; other decimals (literals, `sum` of decimals) as float64; a whole number beyond int64
refused with the table and column named; a derive step with a decimal literal giving a
float column; and the TPC-H benchmark's business tables keeping their types. Frames are
built in the test; no Dagster runs.
"""

from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import yaml
from pydantic import TypeAdapter

from dataplat_dagster.config.steps import Step
from dataplat_dagster.engines.base import TransformError
from dataplat_dagster.engines.pandas_engine import PandasEngine
from dataplat_dagster.engines.sql import run_duckdb

ENGINE = PandasEngine()
TPCH = Path(__file__).resolve().parents[2] / "bench" / "dataflows" / "tpch" / "dataflow.yaml"
SALES = pa.table(
    {
        "units": pa.array([3, 9, None], pa.int32()),
        "big": pa.array([2**62, 2**62, 1], pa.int64()),
        "price": pa.array(
            [Decimal("1.25"), Decimal("2.50"), Decimal("0.25")], pa.decimal128(10, 2)
        ),
    }
)


def types(table: pa.Table) -> dict[str, str]:
    return {field.name: str(field.type) for field in table.schema}


def test_integer_aggregates_come_back_as_int64() -> None:
    result = run_duckdb(
        """select sum(units) as units, count_if(units > 5) as big_sales, count(*) as n,
                  sum(big) - sum(big) as difference, sum(units)::uhugeint as unsigned,
                  12::decimal(18, 0) as whole
           from {{ business.sales }}""",
        {"business.sales": SALES},
        label="business.report",
    )
    assert set(types(result).values()) == {"int64"}
    assert result.to_pylist() == [
        {"units": 12, "big_sales": 1, "n": 3, "difference": 0, "unsigned": 12, "whole": 12}
    ]


def test_other_decimals_come_back_as_float64() -> None:
    result = run_duckdb(
        "select 1.5 as rate, sum(price) as revenue, avg(units) as mean from {{ business.sales }}",
        {"business.sales": SALES},
    )
    assert types(result) == {"rate": "double", "revenue": "double", "mean": "double"}
    assert result.to_pylist() == [{"rate": 1.5, "revenue": 4.0, "mean": 6.0}]


def test_pandas_engine_gives_nullable_integers_not_decimal_objects() -> None:
    frame = ENGINE.run_sql(
        "select sum(units) as units from {{ business.sales }} where units > 100",
        {"business.sales": SALES},
    )
    assert str(frame["units"].dtype) == "Int64"
    assert frame["units"].isna().all()  # a sum over no rows is null, not an error


@pytest.mark.parametrize("sql", ["sum(big)", "-sum(big) - sum(big)"])
def test_a_whole_number_beyond_int64_is_refused_naming_table_and_column(sql: str) -> None:
    with pytest.raises(TransformError) as refused:
        ENGINE.run_sql(
            f"select {sql} as total from {{{{ staging.sales }}}}",
            {"staging.sales": SALES},
            label="business.report",
        )
    message = str(refused.value)
    assert message.startswith("business.report: column 'total' holds ")
    assert "beyond a 64-bit integer" in message


def test_a_derive_step_with_a_decimal_literal_gives_a_float_column() -> None:
    frame = ENGINE.from_arrow(pa.table({"quantity": pa.array([2, 3], pa.int32())}))
    steps = TypeAdapter(list[Step]).validate_python([{"derive": {"rate": "quantity * 1.5"}}])
    outcome = ENGINE.apply_steps(frame, steps, label="staging.t")
    assert outcome.frame["rate"].dtype == "float64"
    assert outcome.frame["rate"].tolist() == [3.0, 4.5]


def tpch_inputs() -> dict[str, Any]:
    """One row of lineitem and of orders, typed as the benchmark's staging tables are."""
    lineitem = pd.DataFrame(
        {
            "l_orderkey": [1],
            "l_quantity": [17.0],
            "l_extendedprice": [100.0],
            "l_discount": [0.1],
            "l_tax": [0.05],
            "l_returnflag": ["N"],
            "l_linestatus": ["O"],
            "l_shipmode": ["MAIL"],
            "l_shipdate": pd.to_datetime(["1996-03-13"]).date,
        }
    )
    orders = pd.DataFrame({"o_orderkey": [1], "o_orderdate": pd.to_datetime(["1996-01-02"]).date})
    return {"staging.lineitem": lineitem, "staging.orders": orders}


def test_tpch_business_tables_keep_integer_counts_and_float_amounts() -> None:
    business = yaml.safe_load(TPCH.read_text())["business"]
    revenue = run_duckdb(business["revenue_by_month_shipmode"]["sql"], tpch_inputs())
    assert types(revenue) == {
        "order_month": "int64",
        "l_shipmode": "string",
        "revenue": "double",
        "line_count": "int64",
    }
    summary = types(run_duckdb(business["pricing_summary"]["sql"], tpch_inputs()))
    assert summary.pop("count_order") == "int64"
    assert summary.pop("l_returnflag") == summary.pop("l_linestatus") == "string"
    assert set(summary.values()) == {"double"}
