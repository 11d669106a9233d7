"""A range run's SQL and Python bodies give the rows of one run per window, row for row.

Each SQL body is planned from a real declaration (daily windows in America/New_York) and
run through `transformed._run_body` with the Pandas engine and DuckDB twice: once over 40
windows in one call (the range run) and once per window (as 40 single-window runs), then
the results are compared. Window-local shapes run once (the step log says so); the others
fall back to the per-window loop and say why. The data has empty windows, windows with
orders but no payments, and payments without orders.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dataplat_dagster.assets.support import input_name
from dataplat_dagster.assets.transformed import _ref, _run_body
from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import TableId, TablePlan, build_plan
from dataplat_dagster.engines.base import PARTITION, TransformError
from dataplat_dagster.engines.pandas_engine import PandasEngine
from dataplat_dagster.engines.sql_windows import RangeSQL
from tests.conftest import write_project

KEYS = [str(day.date()) for day in pd.date_range("2024-01-01", periods=40, freq="D")]
EMPTY = {KEYS[3], KEYS[4], KEYS[17]}  # no orders, no payments

FLOW = """\
dataflow: shop
owners: [team:shop]
partitioning: {granularity: daily, timezone: America/New_York, start: "2024-01-01"}

landing:
  orders:
    path: "shop/orders_{date:%Y%m%d}.csv"
    schema: {order_id: int64, customer_id: int64, amount: float64, status: string, ordered_at: timestamp}
  payments:
    path: "shop/payments_{date:%Y%m%d}.csv"
    schema: {order_id: int64, paid: float64}
  customers:
    path: shop/customers.csv
    schema: {customer_id: int64, country: string}

raw:
  orders: {from: landing.orders}
  payments: {from: landing.payments}
  customers: {from: landing.customers}

common:
  result:
BODY
"""


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))


def plan_for(tmp_path: Path, body: str) -> TablePlan:
    text = FLOW.replace("BODY", "\n".join(f"    {line}" for line in body.splitlines()))
    root = write_project(tmp_path, {"shop": text})
    return build_plan(load_project(root, "local").dataflows)[TableId("shop", "common", "result")]


def windowed(frame: pd.DataFrame, windows: list[str]) -> pd.DataFrame:
    """As the IO manager hands a windowed input: `_partition` a category of the run's windows."""
    return frame.assign(**{PARTITION: pd.Categorical(frame[PARTITION], categories=windows)})


def data() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(13)
    days = [key for key in KEYS if key not in EMPTY]
    count = 600
    orders = pd.DataFrame(
        {
            "order_id": np.arange(count, dtype="int64"),
            "customer_id": rng.integers(0, 12, count),
            "amount": rng.integers(1, 500, count) / 4,
            "status": pd.array(rng.choice(["paid", "open", "void"], count), dtype="string"),
            PARTITION: rng.choice(days, count),
        }
    )
    # instants around midnight in New York: which day they fall on depends on the session zone
    offset = pd.to_timedelta(rng.integers(-180, 180, count), unit="min")
    local = pd.to_datetime(orders[PARTITION]).dt.tz_localize("America/New_York")
    orders["ordered_at"] = (local + offset).dt.tz_convert("UTC")
    paid = orders.sample(frac=0.6, random_state=1)
    # a third paid the next day: same order_id in another window, which must not match
    later = paid.index[: len(paid) // 3]
    after = {day: KEYS[min(KEYS.index(day) + 1, len(KEYS) - 1)] for day in days}
    paid.loc[later, PARTITION] = paid.loc[later, PARTITION].map(after)
    stray = pd.DataFrame({"order_id": [10_000, 10_001], PARTITION: [days[0], days[5]]})
    payments = pd.concat([paid[["order_id", PARTITION]], stray], ignore_index=True)
    payments["paid"] = np.round(rng.random(len(payments)) * 100, 2)
    payments = payments[["order_id", "paid", PARTITION]]
    payments = payments[payments[PARTITION] != days[2]]  # orders without payments that day
    customers = pd.DataFrame(
        {
            "customer_id": np.arange(10, dtype="int64"),
            "country": pd.array(list("ABCDEABCDE"), dtype="string"),
        }
    )
    return {"orders": orders, "payments": payments, "customers": customers}


def run(plan: TablePlan, keys: list[str], log: list[str] | None = None) -> pd.DataFrame:
    tables = {"orders": "raw.orders", "payments": "raw.payments", "customers": "raw.customers"}
    frames = data()
    names = {table_id: input_name(table_id, plan.all_inputs) for table_id in plan.all_inputs}
    inputs, windowed_names = {}, set()
    for table_id in plan.inputs:
        name, frame = names[table_id], frames[table_id.name]
        if tables[table_id.name] != "raw.customers":
            frame = windowed(frame[frame[PARTITION].isin(keys)], keys)
            windowed_names.add(name)
        inputs[name] = frame.reset_index(drop=True)
    refs = {names[t]: _ref(t, plan) for t in plan.inputs}
    lines = log if log is not None else []
    return _run_body(PandasEngine(), plan, inputs, windowed_names, refs, keys, lines.append)


def per_window(plan: TablePlan) -> pd.DataFrame:
    """As 40 single-window runs, concatenated the way the per-window loop does."""
    return PandasEngine().concat([run(plan, [key]) for key in KEYS])


def sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in window order then by every column (for bodies without ORDER BY)."""
    columns = [PARTITION, *(c for c in frame.columns if c != PARTITION)]
    return frame.sort_values(columns, kind="stable", na_position="first").reset_index(drop=True)


def check_range(
    tmp_path: Path, body: str, *, once: bool, ordered: bool = False, reason: str = ""
) -> pd.DataFrame:
    plan = plan_for(tmp_path, body)
    log: list[str] = []
    together = run(plan, KEYS, log)
    expected = per_window(plan)
    if once:  # said once; no per-window progress
        assert len(log) == 1 and "SQL run once over 40 windows" in log[0], log
    else:  # why, then the loop's progress
        assert "SQL run window by window" in log[0] and reason in log[0], log
        assert "40 of 40 windows computed" in log[-1]
    if not ordered:
        together, expected = sorted_rows(together), sorted_rows(expected)
    pd.testing.assert_frame_equal(together, expected)
    return together


JOIN_DIMENSION = """\
sql: |
  select o.order_id, o.amount, c.country
  from {{ raw.orders }} o left join {{ raw.customers }} c on c.customer_id = o.customer_id
"""
STAR_JOIN = """\
sql: |
  select * from {{ raw.orders }} o join {{ raw.customers }} c using (customer_id)
"""
TWO_WINDOWED = """\
sql: |
  select o.order_id, o.amount, p.paid
  from {{ raw.orders }} o join {{ raw.payments }} p on p.order_id = o.order_id
"""
TWO_WINDOWED_FULL = """\
sql: |
  select * from {{ raw.orders }} o full join {{ raw.payments }} p using (order_id)
"""
TWO_WINDOWED_COMMA = """\
sql: |
  select o.order_id, p.paid from {{ raw.orders }} o, {{ raw.payments }} p
  where p.order_id = o.order_id and o.status = 'paid'
"""
UNPAID_ANTI_JOIN = """\
sql: |
  select o.order_id, o.amount
  from {{ raw.orders }} o anti join {{ raw.payments }} p on p.order_id = o.order_id
"""
GROUP_BY = """\
sql: |
  select c.country, o.status, count(*) as orders, sum(o.amount) as amount
  from {{ raw.orders }} o join {{ raw.customers }} c using (customer_id)
  group by c.country, o.status
"""
GROUP_BY_ALL_ORDERED = """\
sql: |
  select status, count(*) as orders, avg(amount) as mean_amount
  from {{ raw.orders }} group by all order by status
"""
COUNT_ALL = """\
sql: |
  select count(*) as orders, sum(amount) as amount, max(order_id) as last_order
  from {{ raw.orders }}
"""
COUNT_FILTERED = """\
sql: |
  select count(*) as big from {{ raw.orders }} where amount > 120
"""
WINDOW_FUNCTIONS = """\
sql: |
  select order_id, customer_id,
         row_number() over (partition by customer_id order by order_id) as nth,
         sum(amount) over (order by order_id) as running
  from {{ raw.orders }}
  qualify nth <= 2
"""
DISTINCT = """\
sql: |
  select distinct customer_id, status from {{ raw.orders }}
"""
DISTINCT_ON_ORDERED = """\
sql: |
  select distinct on (customer_id) customer_id, order_id, amount
  from {{ raw.orders }} order by customer_id, amount desc, order_id
"""
UNNAMED_COLUMNS = """\
sql: |
  select status, count(*), sum(amount)::int, amount > 60 from {{ raw.orders }}
  group by all order by all
"""
LOCAL_DAYS = """\
sql: |
  select cast(ordered_at as date) as day, count(*) as orders, min(ordered_at) as first_at
  from {{ raw.orders }} group by all order by day
"""
CTE_AND_SUBQUERY = """\
sql: |
  with per_customer as (
    select customer_id, sum(amount) as spend from {{ raw.orders }} group by customer_id
  )
  select s.customer_id, s.spend, c.country
  from (select * from per_customer where spend > 50) s
  left join {{ raw.customers }} c on c.customer_id = s.customer_id
  where s.customer_id in (select customer_id from {{ raw.customers }} where country <> 'E')
  order by s.spend desc, s.customer_id
"""


@pytest.mark.parametrize(
    ("body", "ordered"),
    [
        pytest.param(JOIN_DIMENSION, False, id="join_dimension"),
        pytest.param(STAR_JOIN, False, id="star_join_using"),
        pytest.param(TWO_WINDOWED, False, id="two_windowed_inputs"),
        pytest.param(TWO_WINDOWED_FULL, False, id="two_windowed_full_join"),
        pytest.param(TWO_WINDOWED_COMMA, False, id="two_windowed_comma_join"),
        pytest.param(UNPAID_ANTI_JOIN, False, id="two_windowed_anti_join"),
        pytest.param(GROUP_BY, False, id="group_by"),
        pytest.param(GROUP_BY_ALL_ORDERED, True, id="group_by_all_order_by"),
        pytest.param(WINDOW_FUNCTIONS, False, id="window_functions_qualify"),
        pytest.param(DISTINCT, False, id="distinct"),
        pytest.param(DISTINCT_ON_ORDERED, True, id="distinct_on_order_by"),
        pytest.param(CTE_AND_SUBQUERY, True, id="cte_subquery_in_filter"),
        pytest.param(UNNAMED_COLUMNS, True, id="unnamed_columns_keep_duckdb_names"),
        pytest.param(LOCAL_DAYS, True, id="days_in_the_dataflow_zone"),
    ],
)
def test_window_local_sql_runs_once_with_the_rows_of_each_window(
    tmp_path: Path, body: str, ordered: bool
) -> None:
    result = check_range(tmp_path, body, once=True, ordered=ordered)
    assert len(result) > 0


@pytest.mark.parametrize("body", [COUNT_ALL, COUNT_FILTERED], ids=["count", "count_where"])
def test_an_aggregate_without_group_by_keeps_one_row_per_window_even_empty(
    tmp_path: Path, body: str
) -> None:
    result = check_range(tmp_path, body, once=True, ordered=True)
    assert result[PARTITION].astype(str).tolist() == KEYS  # one row each, in window order
    empty = result[result[PARTITION].isin(EMPTY)]
    assert (empty.iloc[:, 0] == 0).all()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(
            "sql: select * from {{ raw.orders }} order by amount desc limit 3",
            "LIMIT",
            id="limit",
        ),
        pytest.param(
            "sql: select order_id from {{ raw.orders }} union select order_id from {{ raw.payments }}",
            "UNION",
            id="union",
        ),
        pytest.param(
            "sql: select order_id from {{ raw.orders }} where amount > (select avg(amount) from {{ raw.orders }})",
            "subquery",
            id="scalar_subquery",
        ),
        pytest.param(
            "sql: |\n  with t as (select count(*) as n from {{ raw.orders }})\n  select n * 2 as twice from t",
            "without GROUP BY",
            id="aggregate_in_cte",
        ),
        pytest.param(
            "sql: select c.country, o.order_id from {{ raw.customers }} c left join {{ raw.orders }} o using (customer_id)",
            "LEFT JOIN keeps rows of a non-windowed input",
            id="left_join_keeping_dimension",
        ),
        pytest.param(
            "sql: select order_id, random() < 2 as always from {{ raw.orders }}",
            "random",
            id="random",
        ),
    ],
)
def test_sql_not_provably_window_local_runs_window_by_window(
    tmp_path: Path, body: str, reason: str
) -> None:
    check_range(tmp_path, body, once=False, ordered="order by" in body, reason=reason)


def tag_rows(orders: pd.DataFrame) -> pd.DataFrame:
    """Row-wise: declared `python_windows: together`, it gets `_partition` and keeps it."""
    return orders.assign(big=orders["amount"] > 100)[
        ["order_id", "big", *([PARTITION] if PARTITION in orders else [])]
    ]


def daily_total(orders: pd.DataFrame) -> pd.DataFrame:
    """Declared `together`, an aggregate that keeps the windows apart itself."""
    by_window = orders.groupby(PARTITION, observed=True)["amount"].agg(["sum", "size"])
    return by_window.reset_index()


def top_order(orders: pd.DataFrame) -> pd.DataFrame:
    """An aggregate: per window by default (one row per window with orders)."""
    return orders.nlargest(1, "amount")[["order_id", "amount"]]


def drops_window(orders: pd.DataFrame) -> pd.DataFrame:
    return orders[["order_id"]]


HERE = "tests.assets.test_range_bodies"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            f"from: raw.orders\npython: {HERE}.tag_rows\npython_windows: together",
            "Python transform called once over 40 windows",
            id="together",
        ),
        pytest.param(
            f"from: raw.orders\npython: {HERE}.daily_total\npython_windows: together",
            "Python transform called once over 40 windows",
            id="together_grouping_by_window",
        ),
        pytest.param(f"from: raw.orders\npython: {HERE}.top_order", None, id="each"),
    ],
)
def test_python_transform_over_a_range_equals_per_window_calls(
    tmp_path: Path, body: str, message: str | None
) -> None:
    plan = plan_for(tmp_path, body)
    log: list[str] = []
    together = run(plan, KEYS, log)
    expected = per_window(plan)
    pd.testing.assert_frame_equal(together, expected)
    if message:
        assert log and message in log[0]
    else:  # the loop's progress lines only
        assert all("windows computed" in line for line in log) and log


def test_python_together_must_return_the_window_column(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path, f"from: raw.orders\npython: {HERE}.drops_window\npython_windows: together"
    )
    with pytest.raises(TransformError, match=f"no {PARTITION} column"):
        run(plan, KEYS)


def test_a_rewrite_duckdb_refuses_falls_back_to_the_per_window_loop(tmp_path: Path) -> None:
    """Should the rewrite be wrong SQL, the range run still gives the per-window rows."""
    plan = plan_for(tmp_path, GROUP_BY)
    plan.range_sql = RangeSQL('select nothing from "raw__orders"')  # a broken rewrite
    log: list[str] = []
    together = run(plan, KEYS, log)
    assert "window by window: DuckDB refused the query over the range" in log[0]
    pd.testing.assert_frame_equal(sorted_rows(together), sorted_rows(per_window(plan)))
