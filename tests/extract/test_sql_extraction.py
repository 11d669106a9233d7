"""SQL extraction on SQLite, the machine's PostgreSQL and MariaDB: by window, whole, in chunks.

The window is a day in Europe/Berlin: the naive `ts` column holds wall-clock times there, so
the day of 2024-03-31 (23 hours: summer time began) is [00:00, 24:00) of Berlin's clock.
"""

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dataplat_dagster.config.extracted import SqlSource
from dataplat_dagster.extract import ExtractionError
from dataplat_dagster.extract.sql import SqlProgress, extraction_query, fetch_rows
from dataplat_dagster.extract.writing import write_jsonl
from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.databases import DatabasesResource
from dataplat_dagster.resources.file_store import LocalFileStore
from tests.conftest import free_port
from tests.corpus.conftest import SqlDb

BERLIN = ZoneInfo("Europe/Berlin")
START, END = datetime(2024, 3, 31, tzinfo=BERLIN), datetime(2024, 4, 1, tzinfo=BERLIN)
ROWS = [
    (1, 10.5, "2024-03-30 23:59:59"),
    (2, 21.0, "2024-03-31 00:00:00"),
    (3, 31.5, "2024-03-31 03:30:00"),
    (4, 42.0, "2024-03-31 12:00:00"),
    (5, 52.5, "2024-03-31 23:59:59"),
    (6, 63.0, "2024-04-01 00:00:00"),
]


def create_orders(db: SqlDb) -> None:
    moment = "datetime" if db.kind == "mariadb" else "timestamp"
    db.execute(
        f"create table orders (order_id integer, amount double precision, ts {moment})",
        *[f"insert into orders values ({i}, {a}, '{t}')" for i, a, t in ROWS],
    )


def extract(
    db: SqlDb, spec: SqlSource, column_type: str | None, tmp_path: Path
) -> tuple[list[dict], SqlProgress]:
    engine = db.engine()
    query, params = extraction_query(spec, engine, column_type, START, END)
    progress = SqlProgress()
    store = LocalFileStore(root=str(tmp_path / "landing"))
    written = write_jsonl(
        store, "db/orders.jsonl", fetch_rows(engine, query, params, spec.chunk_size, progress)
    )
    lines = (tmp_path / "landing" / "db" / "orders.jsonl").read_text().splitlines()
    assert written.rows == len(lines)
    return [json.loads(line) for line in lines], progress


def test_a_table_by_window_in_chunks(sql_db: SqlDb, tmp_path: Path) -> None:
    create_orders(sql_db)
    spec = SqlSource(database="reporting", table="orders", window_column="ts", chunk_size=2)
    records, progress = extract(sql_db, spec, "timestamp_ntz", tmp_path)
    assert [r["order_id"] for r in records] == [2, 3, 4, 5]
    assert records[0]["ts"].replace("T", " ") == "2024-03-31 00:00:00"
    assert progress.chunks == 2
    assert ">= :window_start AND" in progress.query


def test_a_query_whole(sql_db: SqlDb, tmp_path: Path) -> None:
    create_orders(sql_db)
    spec = SqlSource(
        database="reporting", query="select order_id, amount from orders where amount > 40;"
    )
    records, progress = extract(sql_db, spec, None, tmp_path)
    assert records == [
        {"order_id": 4, "amount": 42.0},
        {"order_id": 5, "amount": 52.5},
        {"order_id": 6, "amount": 63.0},
    ]
    assert progress.chunks == 1


def test_a_query_error_names_the_table_and_keeps_the_previous_file(
    sql_db: SqlDb, tmp_path: Path
) -> None:
    previous = tmp_path / "landing" / "db" / "orders.jsonl"
    previous.parent.mkdir(parents=True)
    previous.write_text("{}\n")
    spec = SqlSource(database="reporting", table="no_such_orders")
    with pytest.raises(ExtractionError, match="no_such_orders"):
        extract(sql_db, spec, None, tmp_path)
    assert previous.read_text() == "{}\n"


def test_an_unreachable_database_is_an_extraction_error() -> None:
    databases = DatabasesResource(
        connections={"shop": {"url": f"postgresql://postgres@127.0.0.1:{free_port()}/shop"}},
        aws=AwsResource(),
    )
    spec = SqlSource(database="shop", table="orders")
    engine = databases.engine("shop")
    query, params = extraction_query(spec, engine, None, None, None)
    with pytest.raises(ExtractionError, match=r"OperationalError.*refused"):
        list(fetch_rows(engine, query, params, 10, SqlProgress()))


def test_sql_needs_a_table_or_a_query() -> None:
    with pytest.raises(ValueError, match="exactly one of `table` or `query`"):
        SqlSource(database="shop")
