"""Bad and awkward SQL outputs on SQLite, PostgreSQL and MariaDB, read back with plain SQL.

Covers, on each of the three real databases: DuckDB's DECIMAL/HUGEINT aggregates written as
integer columns, int64 extremes, NULLs in every type, dates and UTC timestamps, strings with
quotes, newlines and 4-byte characters, an empty window, a re-run of a window (replaced, not
duplicated), a pre-existing table with other columns or types (refused, its rows intact),
declared columns, `on_schema_change: add_columns` and values that do not fit. The writes go
through `write_sql_output`, the function the output assets call; failures of the database
itself are in test_sql_output_failures.py, Dagster runs in test_sql_output_runs.py.
"""

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from dataplat_dagster.assets.sql_rows import SqlOutputError
from dataplat_dagster.config.sql_columns import SqlColumn
from dataplat_dagster.engines.sql import run_duckdb
from tests.corpus.conftest import OUTPUT, SqlDb, rows, write

DAY1, DAY2, DAY3 = "2024-01-01", "2024-01-02", "2024-01-03"
BIGINT = {"sqlite": "bigint", "postgresql": "bigint", "mariadb": "bigint(20)"}
DOUBLE = {"sqlite": "double", "postgresql": "double precision", "mariadb": "double"}
TEXT = {"sqlite": "text", "postgresql": "text", "mariadb": "longtext"}


def test_duckdb_aggregates_arrive_as_bigint_columns(sql_db: SqlDb) -> None:
    sales = pa.table(
        {
            "region": ["north", "north", "south"],
            "units": pa.array([3, 9, 4], pa.int32()),
            "price": [1.5, 2.0, 2.5],
        }
    )
    report = run_duckdb(
        """select region, sum(units) as units, count_if(units > 5) as big_sales,
                  count(*) as sales, sum(units)::hugeint as units_huge, 1.5 as rate,
                  sum(price) as revenue
           from {{ business.sales }} group by all order by region""",
        {"business.sales": sales},
        label="business.report",
    )
    write(sql_db, report)
    types = sql_db.column_types("report")
    for name in ("units", "big_sales", "sales", "units_huge"):
        assert types[name] == BIGINT[sql_db.kind], name
    assert types["rate"] == types["revenue"] == DOUBLE[sql_db.kind]
    assert rows(
        sql_db,
        "select region, units, big_sales, sales, units_huge, rate from report order by region",
    ) == [
        ("north", 12, 1, 2, 12, 1.5),
        ("south", 4, 0, 1, 4, 1.5),
    ]


def test_int64_extremes_and_nulls_in_every_type_round_trip(sql_db: SqlDb) -> None:
    data = pa.table(
        {
            "id": [1, 2, 3, 4],
            "big": pa.array([2**63 - 1, -(2**63), 0, None], pa.int64()),
            "small": pa.array([127, -128, 0, None], pa.int8()),
            "unsigned": pa.array([2**32 - 1, 0, 1, None], pa.uint32()),
            "ratio": [1e308, -0.5, 0.0, None],
            "flag": [True, False, True, None],
            "name": ["a", "", "b", None],
            "day": [dt.date(1970, 1, 1), dt.date(2024, 2, 29), dt.date(9999, 12, 31), None],
            "at": pa.array([dt.datetime(2024, 1, 1, 23, 59, 59, 999999), None, None, None]),
            "blob": [b"\x00\xff", b"", b"x", None],
        }
    )
    for _ in range(2):  # the second write checks the table the first made: every type matches
        write(sql_db, data)
    assert rows(sql_db, "select * from report order by id") == [
        (1, 2**63 - 1, 127, 2**32 - 1, 1e308, 1, "a", "1970-01-01", "2024-01-01 23:59:59.999999", b"\x00\xff", DAY1),
        (2, -(2**63), -128, 0, -0.5, 0, "", "2024-02-29", None, b"", DAY1),
        (3, 0, 0, 1, 0.0, 1, "b", "9999-12-31", None, b"x", DAY1),
        (4, None, None, None, None, None, None, None, None, None, DAY1),
    ]  # fmt: skip


def test_timestamps_are_stored_in_utc_to_the_microsecond(sql_db: SqlDb) -> None:
    instant = dt.datetime(2024, 3, 31, 0, 30, 0, 123456, tzinfo=dt.UTC)  # Paris changes clocks
    nanoseconds = pa.array([1_700_000_000_123_456_789], pa.timestamp("ns"))
    data = pa.table(
        {
            "paris": pa.array([instant], pa.timestamp("us", tz="Europe/Paris")),
            "utc": pa.array([instant], pa.timestamp("us", tz="UTC")),
            "naive": nanoseconds,  # SQL keeps microseconds: the last three digits go
        }
    )
    write(sql_db, data)
    assert rows(sql_db, "select paris, utc, naive from report") == [
        ("2024-03-31 00:30:00.123456", "2024-03-31 00:30:00.123456", "2023-11-14 22:13:20.123456")
    ]
    types = sql_db.column_types("report")
    if sql_db.kind == "postgresql":  # the only one of the three that stores an instant
        assert types["utc"] == "timestamp with time zone"
        assert types["naive"] == "timestamp without time zone"
    elif sql_db.kind == "mariadb":
        assert types["utc"] == types["naive"] == "datetime(6)"


def test_strings_with_quotes_newlines_and_four_byte_characters(sql_db: SqlDb) -> None:
    texts = [
        "it's",
        'say "hi"',
        "two\nlines",
        "crlf\r\nend",
        "back\\slash",
        "percent %s %(x)s ? :name",
        "tab\there; drop table report; --",
        "émoji 😀 中文",
        "long " * 20_000,  # 100 kB: more than MariaDB's TEXT holds
        "",
        None,
    ]
    write(sql_db, pa.table({"id": list(range(len(texts))), "text": texts}))
    assert sql_db.column_types("report")["text"] == TEXT[sql_db.kind]
    assert [text for _, text in rows(sql_db, "select id, text from report order by id")] == texts


def test_an_empty_window_clears_its_rows_and_an_empty_first_write_makes_a_typed_table(
    sql_db: SqlDb,
) -> None:
    empty = pa.table({"region": pa.array([], pa.string()), "units": pa.array([], pa.int64())})
    write(sql_db, empty, (DAY1,))
    assert sql_db.column_types("report")["units"] == BIGINT[sql_db.kind]
    assert rows(sql_db, "select count(*) from report") == [(0,)]
    write(sql_db, pa.table({"region": ["north", "south"], "units": [1, 2]}), (DAY2,))
    write(sql_db, pa.table({"region": ["east"], "units": [3]}), (DAY3,))
    write(sql_db, empty, (DAY2,))  # DAY2 lost its rows upstream: its old rows go too
    assert rows(sql_db, "select region, _partition from report") == [("east", DAY3)]


def test_rerunning_a_window_replaces_its_rows_and_keeps_the_others(sql_db: SqlDb) -> None:
    two_days = pa.table(
        {
            "region": ["north", "south", "north"],
            "units": [1, 2, 3],
            "_partition": pa.array([DAY1, DAY1, DAY2]).dictionary_encode(),
        }
    )
    for _ in range(2):
        written = write(sql_db, two_days, (DAY1, DAY2))
    assert written.rows == 3
    write(sql_db, pa.table({"region": ["west"], "units": [10]}), (DAY1,))
    assert rows(sql_db, "select _partition, region, units from report order by 1, 2") == [
        (DAY1, "west", 10),
        (DAY2, "north", 3),
    ]


def test_an_unpartitioned_output_replaces_the_whole_table(sql_db: SqlDb) -> None:
    write(sql_db, pa.table({"units": [1, 2, 3]}), ())
    write(sql_db, pa.table({"units": [7]}), ())
    assert rows(sql_db, "select units from report") == [(7,)]
    assert "_partition" not in sql_db.column_types("report")


def test_a_table_with_text_columns_is_refused_and_keeps_its_rows(sql_db: SqlDb) -> None:
    # the table a failed first write of the old code left behind, with rows appended since
    sql_db.execute(
        "create table report (region text, units text, _partition text)",
        f"insert into report values ('north', '12', '{DAY1}')",
    )
    report = pa.table({"region": ["north"], "units": [12], "sales": [2]})
    with pytest.raises(SqlOutputError) as refused:
        write(sql_db, report, (DAY2,))
    message = str(refused.value)
    for part in (OUTPUT, "'report'", "'reporting'", f"window {DAY2}", "nothing was written"):
        assert part in message
    assert "column 'units': the table has TEXT, the output writes BIGINT" in message
    assert "column 'sales': not in the table" in message
    assert "column 'region'" not in message  # text for text: no difference
    assert rows(sql_db, "select region, units, _partition from report") == [("north", "12", DAY1)]


def test_a_table_with_other_columns_is_refused(sql_db: SqlDb) -> None:
    sql_db.execute(
        "create table report (region varchar(20), units bigint, note text, _partition text)"
    )
    with pytest.raises(SqlOutputError, match="column 'note': in the table, not written"):
        write(sql_db, pa.table({"region": ["north"], "units": [1]}))
    assert rows(sql_db, "select count(*) from report") == [(0,)]


def test_add_columns_adds_missing_nullable_columns_and_never_retypes(sql_db: SqlDb) -> None:
    write(sql_db, pa.table({"region": ["north"], "units": [1]}), (DAY1,))
    wider = pa.table({"region": ["south"], "units": [2], "big_sales": [5]})
    with pytest.raises(SqlOutputError, match="column 'big_sales': not in the table"):
        write(sql_db, wider, (DAY2,))
    written = write(sql_db, wider, (DAY2,), on_schema_change="add_columns")
    assert written.added_columns == ("big_sales",)
    assert sql_db.column_types("report")["big_sales"] == BIGINT[sql_db.kind]
    assert rows(sql_db, "select region, big_sales from report order by 1") == [
        ("north", None),
        ("south", 5),
    ]
    retyped = pa.table({"region": ["east"], "units": ["many"]})
    with pytest.raises(SqlOutputError, match="add_columns adds missing columns only"):
        write(sql_db, retyped, (DAY3,), on_schema_change="add_columns")
    assert rows(sql_db, "select count(*) from report") == [(2,)]


def test_declared_columns_make_the_table_and_check_the_rows(sql_db: SqlDb) -> None:
    declared = {
        "region": SqlColumn(type="string", nullable=False),
        "units": SqlColumn(type="int32"),
        "revenue": SqlColumn(type="decimal(12,2)"),
        "at": SqlColumn(type="timestamptz"),
    }
    data = pa.table(
        {
            "region": ["north", "south"],
            "units": [3, None],  # int64 in the frame, int32 declared: fits
            "revenue": [19.999, 0.1],
            "at": [dt.datetime(2024, 1, 1, 12), None],  # naive: taken as UTC
        }
    )
    for _ in range(2):
        write(sql_db, data, columns=declared)
    types = sql_db.column_types("report")
    assert types["units"] == {"sqlite": "integer", "postgresql": "integer"}.get(
        sql_db.kind, "int(11)"
    )
    assert types["revenue"] in ("numeric(12, 2)", "numeric", "decimal(12,2)")
    got = rows(sql_db, "select region, units, revenue, at from report order by region")
    assert [(r, u, Decimal(str(v)), a) for r, u, v, a in got] == [
        ("north", 3, Decimal("20.00"), "2024-01-01 12:00:00.000000"),
        ("south", None, Decimal("0.10"), None),
    ]
    with pytest.raises(SqlOutputError, match="columns not declared under `columns`: extra"):
        write(sql_db, data.append_column("extra", pa.array([1, 2])), columns=declared)
    no_region = data.set_column(0, "region", pa.array(["west", None]))
    with pytest.raises(SqlOutputError, match=r"'region' is declared nullable: false.*row 2"):
        write(sql_db, no_region, columns=declared)
    with pytest.raises(SqlOutputError, match="the input has string, the declaration says"):
        write(sql_db, data.set_column(1, "units", pa.array(["3", "4"])), columns=declared)
    assert rows(sql_db, "select count(*) from report") == [(2,)]


@pytest.mark.parametrize(
    ("column", "values", "reason"),
    [
        ("count", pa.array([2**64 - 1], pa.uint64()), "not in range"),
        ("tags", pa.array([["a", "b"]]), "to_json"),
        ("note", pa.array([None], pa.null()), "every value of 'note' is null"),
    ],
)
def test_values_no_column_holds_are_refused_naming_the_column(
    sql_db: SqlDb, column: str, values: pa.Array, reason: str
) -> None:
    with pytest.raises(SqlOutputError, match=reason) as refused:
        write(sql_db, pa.table({"id": [1], column: values}))
    assert f"'{column}'" in str(refused.value)
    assert not sql_db.has_table("report")
