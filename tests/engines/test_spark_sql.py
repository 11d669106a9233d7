"""DuckDB-style SQL translated for Spark, and the load-time refusal of what cannot run there.

No Spark session: translation is sqlglot's, the refusal is part of loading declarations
(a table on the Spark engine whose SQL, step expression or expression rule has no Spark
translation fails with the file, the table, the line and the reason).
"""

from pathlib import Path
from types import SimpleNamespace

import pytest

from dataplat_dagster.config.errors import DeclarationError
from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import TableId, build_plan
from dataplat_dagster.engines.spark_declarations import check_spark_sql, runs_on_spark
from dataplat_dagster.engines.spark_sql import translate, translate_expression, untranslatable
from tests.conftest import write_project


def test_duckdb_functions_become_spark_ones() -> None:
    sql = translate("select strftime(ts, '%Y-%m') m, list(x) l, x // 2 q from t group by all")
    assert sql == (
        "SELECT DATE_FORMAT(ts, 'yyyy-MM') AS m, COLLECT_LIST(x) AS l, x DIV 2 AS q "
        "FROM t GROUP BY ALL"
    )


def test_integer_casts_round_as_duckdb_does() -> None:
    assert translate_expression("cast(price as integer)") == "CAST(ROUND(price) AS INT)"


def test_averages_and_divisions_are_of_doubles_as_in_duckdb() -> None:
    assert translate_expression("avg(case when late then 1.0 else 0.0 end)") == (
        "AVG(CAST(CASE WHEN late THEN 1.0 ELSE 0.0 END AS DOUBLE))"
    )
    assert translate_expression("a / 3.0") == "CAST(a AS DOUBLE) / CAST(3.0 AS DOUBLE)"


@pytest.mark.parametrize(
    ("sql", "line", "reason"),
    [
        ("select a,\n  list_reduce(l, (x, y) -> x + y) from t", 2, "function list_reduce"),
        ("select a\nfrom t\nasof join u on t.a >= u.a", 3, "ASOF JOIN"),
        ("select\n a::hugeint from t", 2, "DuckDB's hugeint"),
        ("select columns('a.*') from t", 1, "COLUMNS(...)"),
        ("pivot t on a using sum(b)", None, "PIVOT, not a query"),
    ],
)
def test_untranslatable_sql_names_line_and_reason(sql: str, line: int | None, reason: str) -> None:
    found = untranslatable(sql)
    assert found is not None
    assert found[0] == line
    assert reason in found[1]


def test_translatable_sql_passes() -> None:
    assert untranslatable("select a, count(*) from {{ staging.t }} group by all") is None


FLOW = """\
dataflow: shop
owners: [team:shop]
landing:
  orders: {path: shop/orders.csv, schema: {order_id: int64, amount: float64}}
raw:
  orders: {from: landing.orders}
staging:
  orders:
    from: raw.orders
    steps:
      - {filter: "amount > 0"}
business:
  totals:
    sql: |
      select order_id,
        jaccard(cast(order_id as varchar), 'x') as similarity
      from {{ staging.orders }}
"""


def plan_of(tmp_path: Path, text: str) -> dict[TableId, object]:
    return build_plan(
        load_project(write_project(tmp_path, {"shop": text}), "local").dataflows
    ).tables


def test_a_spark_table_with_untranslatable_sql_fails_at_load(tmp_path: Path) -> None:
    tables = plan_of(tmp_path, FLOW)  # on Pandas it loads
    with pytest.raises(DeclarationError) as caught:
        check_spark_sql(tables[TableId("shop", "business", "totals")])
    text = str(caught.value)
    assert "assets/shop/dataflow.yaml, line 14: business.totals.sql" in text
    assert "table business.totals: SQL line 2 cannot run on Spark" in text
    assert "function jaccard has no Spark equivalent" in text
    check_spark_sql(tables[TableId("shop", "staging", "orders")])  # its filter translates


def test_step_expressions_are_checked_too(tmp_path: Path) -> None:
    text = FLOW.replace('{filter: "amount > 0"}', '{derive: {x: "cast(amount as hugeint)"}}')
    tables = plan_of(tmp_path, text)
    with pytest.raises(DeclarationError, match=r"staging\.orders\.steps\[0\]\.derive.*hugeint"):
        check_spark_sql(tables[TableId("shop", "staging", "orders")])


def test_the_engine_is_the_table_s_or_its_dataflow_s() -> None:
    table = SimpleNamespace(spec=SimpleNamespace(), dataflow=SimpleNamespace(spec=None))
    assert not runs_on_spark(table)
    table.spec.engine = "spark"
    assert runs_on_spark(table)
