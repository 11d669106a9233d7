"""Parity of SQL bodies: DuckDB-style SQL on Pandas (DuckDB) and on Spark (sqlglot + Spark SQL).

Each body runs over the same generated frames; results must have the same column names,
declared types and rows. Range runs (`run_sql_windows`, the body once over several windows)
are compared too, including a window with no rows. Time zones: Europe/Berlin sessions.
"""

from typing import Any

import pyarrow as pa
import pytest

from dataplat_dagster.engines.base import Engine, TransformError
from dataplat_dagster.engines.sql_windows import plan_range_sql
from tests.parity.helpers import DAYS, PANDAS, canonical, customers, typed_orders

BODIES = {
    "group_by_all_unaliased": (
        "select status, count(*), sum(quantity), avg(price) from {{ staging.orders }} group by all"
    ),
    "join_and_case": (
        "select o.order_id, c.name, case when o.price > 10 then 'big' else 'small' end as size, "
        "coalesce(o.code, 'none') as code from {{ staging.orders }} o "
        "left join {{ staging.customers }} c using (customer_id)"
    ),
    "window_function": (
        "select order_id, row_number() over (partition by customer_id order by order_id) as n, "
        "sum(price) over (partition by customer_id) as spent from {{ staging.orders }} "
        "where order_id is not null"
    ),
    "times_in_the_session_zone": (
        "select order_id, cast(ordered_at as date) as day, date_trunc('day', ordered_at) as start, "
        "strftime(ordered_at, '%Y-%m-%d %H') as hour, extract(hour from ordered_at) as h "
        "from {{ staging.orders }}"
    ),
    "numbers": (
        "select order_id, quantity * 2 as twice, price / 2 as half, 1.5 as literal, "
        "cast(price as integer) as whole, quantity // 2 as halves, round(price, 1) as r "
        "from {{ staging.orders }}"
    ),
    "decimal_averages_and_division": (
        "select status, avg(case when price > 10 then 1.0 else 0.0 end) as share, "
        "sum(quantity) / 3.0 as thirds, count(*) / 7 as sevenths from {{ staging.orders }} "
        "group by all"
    ),
    "qualify_and_strings": (
        "select customer_id, upper(status) as s, length(code) as n, code ilike 'ab%' as ab "
        "from {{ staging.orders }} qualify row_number() over (partition by customer_id "
        "order by order_id desc) = 1"
    ),
}
RANGE_BODIES = {
    "aggregate_without_group_by": (
        "select count(*) as n, sum(price) as total from {{ staging.orders }}"
    ),
    "group_by_join": (
        "select c.name, count(*) as n from {{ staging.orders }} o "
        "join {{ staging.customers }} c on o.customer_id = c.customer_id group by c.name"
    ),
}
ZONE = "Europe/Berlin"


def tables(engine: Engine, *, windowed: bool = False) -> dict[str, Any]:
    orders = typed_orders()
    if not windowed:
        orders = orders.drop_columns(["_partition"])
    return {
        "staging.orders": engine.from_arrow(orders),
        "staging.customers": engine.from_arrow(customers()),
    }


@pytest.mark.parametrize("body", sorted(BODIES))
def test_sql_bodies_match_duckdb(engine: Engine, body: str) -> None:
    got = engine.run_sql(BODIES[body], tables(engine), label="business.t", timezone=ZONE)
    expected = PANDAS.run_sql(BODIES[body], tables(PANDAS), label="business.t", timezone=ZONE)
    got_schema, got_rows = canonical(engine, got)
    schema, rows = canonical(PANDAS, expected)
    assert got_schema == schema
    assert got_rows == rows


def test_unaliased_columns_take_duckdb_names(engine: Engine) -> None:
    got = engine.run_sql(BODIES["group_by_all_unaliased"], tables(engine), timezone=ZONE)
    assert engine.column_names(got) == ["status", "count_star()", "sum(quantity)", "avg(price)"]


@pytest.mark.parametrize("body", sorted(RANGE_BODIES))
def test_range_bodies_match_the_window_loop(engine: Engine, body: str) -> None:
    sql = RANGE_BODIES[body]
    keys = [*DAYS, "2024-01-03"]  # the third window has no rows
    query = plan_range_sql(sql, ["staging.orders"])
    assert query.once
    run = engine.run_sql_windows(
        query, sql, tables(engine, windowed=True), ["staging.orders"], keys, timezone=ZONE
    )
    loop = PANDAS.concat_windows(
        [(key, PANDAS.run_sql(sql, _window(key), timezone=ZONE)) for key in keys]
    )
    assert canonical(engine, run) == canonical(PANDAS, loop)


def _window(key: str) -> dict[str, Any]:
    orders = typed_orders()
    rows = orders.filter(pa.compute.equal(orders["_partition"], key)).drop_columns(["_partition"])
    return {"staging.orders": PANDAS.from_arrow(rows), "staging.customers": customers()}


def test_a_failing_body_names_the_table(engine: Engine) -> None:
    with pytest.raises(TransformError, match="no_such_column"):
        result = engine.run_sql(
            "select no_such_column from {{ staging.orders }}", tables(engine), label="business.t"
        )
        engine.row_count(result)
