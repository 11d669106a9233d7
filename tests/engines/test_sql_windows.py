"""The plan's decision for a partitioned SQL body: once over a range, or window by window.

Rows are compared in tests/assets/test_range_bodies.py; here, which SQL runs once and the
reason given for each shape that keeps the per-window loop.
"""

import pytest

from dataplat_dagster.engines.sql_windows import plan_range_sql

WINDOWED = ["staging.orders", "staging.payments"]


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("select * from {{ staging.orders }} limit 10", "LIMIT"),
        ("select * from {{ staging.orders }} offset 10", "OFFSET"),
        ("select * from {{ staging.orders }} using sample 10%", "SAMPLE"),
        ("select *, now() as at from {{ staging.orders }}", "now"),
        ("select *, uuid() as id from {{ staging.orders }}", "differs from query to query"),
        (
            "select * from {{ staging.orders }} union all select * from {{ staging.payments }}",
            "UNION",
        ),
        (
            "select a from {{ staging.orders }} except select a from {{ staging.payments }}",
            "EXCEPT",
        ),
        (
            "select (select max(a) from {{ staging.payments }}) as m from {{ staging.orders }}",
            "subquery",
        ),
        (
            "select * from {{ staging.orders }} o where exists (select 1 from {{ staging.payments }} p where p.a = o.a)",
            "subquery",
        ),
        ("select * from {{ staging.orders }} o, lateral (select o.a + 1 as b) x", "LATERAL"),
        ("select * from {{ staging.orders }} natural join {{ staging.payments }}", "NATURAL"),
        ("select a, sum(b) from {{ staging.orders }} group by rollup (a)", "ROLLUP"),
        (
            "select a, sum(b) over w from {{ staging.orders }} window w as (order by a)",
            "named WINDOW",
        ),
        ("pivot {{ staging.orders }} on a using sum(b)", "PIVOT"),
        (
            "with recursive r as (select 1 as n union all select n + 1 from r where n < 3) select * from r, {{ staging.orders }}",
            "RECURSIVE",
        ),
        ("select _partition from {{ staging.orders }}", "_partition"),
        ("select count(*) as n from {{ staging.orders }} having count(*) > 1", "HAVING"),
        ("select n from (select count(*) as n from {{ staging.orders }})", "without GROUP BY"),
        (
            "select d.a from {{ staging.dim }} d left join {{ staging.orders }} o using (a)",
            "LEFT JOIN",
        ),
        (
            "select o.a from {{ staging.orders }} o right join {{ staging.dim }} d using (a)",
            "RIGHT JOIN",
        ),
        (
            "select o.a from {{ staging.orders }} o full join {{ staging.dim }} d using (a)",
            "FULL JOIN",
        ),
        (
            "select d.a from {{ staging.dim }} d semi join {{ staging.orders }} o using (a)",
            "SEMI joined",
        ),
        (
            "select d.a from {{ staging.dim }} d semi join {{ staging.orders }} o using (a) join {{ staging.payments }} p using (a)",
            "SEMI joined",
        ),
        ("select * from {{ staging.orders }} positional join {{ staging.dim }}", "POSITIONAL"),
        ("select * from {{ staging.dim }}", "do not depend on a windowed input"),
        ("select from where", "could not parse"),
        ("select 1; select 2", "several statements"),
    ],
)
def test_sql_not_provably_window_local_keeps_the_per_window_loop(sql: str, reason: str) -> None:
    decision = plan_range_sql(sql, WINDOWED)
    assert not decision.once and decision.sql is None
    assert reason.lower() in decision.reason.lower(), decision.reason


@pytest.mark.parametrize(
    ("sql", "expected", "fill_empty"),
    [
        (
            "select o.*, d.b from {{ staging.orders }} o left join {{ staging.dim }} d using (a)",
            ["o.* EXCLUDE (_partition)", '"o"._partition AS _partition'],
            False,
        ),
        (
            "select o.a, p.b from {{ staging.orders }} o join {{ staging.payments }} p on p.a = o.a",
            ['"p"._partition = "o"._partition', 'COALESCE("o"._partition, "p"._partition)'],
            False,
        ),
        (
            "select a, count(*) from {{ staging.orders }} group by a",
            ['GROUP BY a, "staging__orders"._partition'],
            False,
        ),
        (
            "select a, rank() over (partition by a order by b) from {{ staging.orders }}",
            ['OVER (PARTITION BY a, "staging__orders"._partition ORDER BY b)'],
            False,
        ),
        (
            "select o.a from {{ staging.orders }} o anti join {{ staging.payments }} p using (a)",
            ["ANTI JOIN", "USING (a, _partition)", '"o"._partition AS _partition'],
            False,
        ),
        (
            "select count(*) as n from {{ staging.orders }}",
            ['GROUP BY "staging__orders"._partition'],
            True,
        ),
    ],
)
def test_window_local_sql_carries_the_window(
    sql: str, expected: list[str], fill_empty: bool
) -> None:
    decision = plan_range_sql(sql, WINDOWED)
    assert decision.once and decision.sql is not None, decision.reason
    for needle in expected:
        assert needle in decision.sql
    assert decision.fill_empty is fill_empty


def test_sql_without_windowed_inputs_is_not_rewritten() -> None:
    decision = plan_range_sql("select * from {{ staging.orders }}", [])
    assert not decision.once and "no windowed input" in decision.reason
