"""LocalCatalog (a SQLite file) and the Arrow -> Hive type names it registers.

Covers table registration (idempotent, columns and location updated on re-registration),
partition registration (idempotent, location updated), get_table / list_partitions /
list_tables, database naming per layer, and `dataplat_dagster.types.hive_type`. The
catalogue file lives on tmp_path; the Glue catalogue and Dagster runs are not touched.
"""

import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from dataplat_dagster.resources.catalog import CatalogTable, LocalCatalog
from dataplat_dagster.types import hive_type

ORDERS = ["staging", "retail", "orders"]
SCHEMA = pa.schema([("id", pa.int64()), ("customer", pa.string()), ("amount", pa.float64())])


@pytest.fixture
def catalog(tmp_path: Path) -> LocalCatalog:
    return LocalCatalog(path=str(tmp_path / "state" / "catalog.db"))


def register(
    catalog: LocalCatalog,
    schema: pa.Schema = SCHEMA,
    location: str = "file:///wh/staging/retail/orders",
    key_path: list[str] = ORDERS,
    partition_key: str | None = "dt",
    description: str = "orders",
) -> None:
    catalog.register_table(
        key_path=key_path,
        schema=schema,
        location=location,
        partition_key=partition_key,
        description=description,
    )


def test_registering_a_table_creates_the_file_and_the_row(
    catalog: LocalCatalog, tmp_path: Path
) -> None:
    assert catalog.get_table(key_path=ORDERS) is None
    register(catalog)

    assert (tmp_path / "state" / "catalog.db").is_file()
    assert catalog.get_table(key_path=ORDERS) == CatalogTable(
        database="dataplat_staging",
        name="retail__orders",
        columns=[("id", "bigint"), ("customer", "string"), ("amount", "double")],
        location="file:///wh/staging/retail/orders",
        partition_keys=["dt"],
        description="orders",
    )


def test_registering_twice_keeps_one_table(catalog: LocalCatalog) -> None:
    register(catalog)
    register(catalog)

    assert len(catalog.list_tables()) == 1
    with sqlite3.connect(catalog.path) as connection:
        assert connection.execute("select count(*) from catalog_tables").fetchone() == (1,)


def test_reregistering_updates_columns_location_and_description(catalog: LocalCatalog) -> None:
    register(catalog)
    evolved = SCHEMA.append(pa.field("ordered_on", pa.date32()))
    register(
        catalog,
        schema=evolved,
        location="s3://bucket/staging/retail/orders",
        description="orders, with dates",
    )

    table = catalog.get_table(key_path=ORDERS)
    assert table.columns[-1] == ("ordered_on", "date")
    assert len(table.columns) == 4
    assert table.location == "s3://bucket/staging/retail/orders"
    assert table.description == "orders, with dates"
    assert len(catalog.list_tables()) == 1


def test_the_partition_column_is_not_a_data_column(catalog: LocalCatalog) -> None:
    register(catalog, schema=SCHEMA.append(pa.field("dt", pa.string())))
    assert [name for name, _ in catalog.get_table(key_path=ORDERS).columns] == [
        "id",
        "customer",
        "amount",
    ]

    register(catalog, key_path=["business", "retail", "totals"], partition_key=None)
    totals = catalog.get_table(key_path=["business", "retail", "totals"])
    assert totals.partition_keys == []
    assert totals.database == "dataplat_business"


def test_partitions_register_idempotently_and_update_their_location(catalog: LocalCatalog) -> None:
    register(catalog)
    catalog.register_partitions(
        key_path=ORDERS, partitions=[("2024-01-02", "file:///a/2"), ("2024-01-01", "file:///a/1")]
    )
    catalog.register_partitions(key_path=ORDERS, partitions=[("2024-01-02", "file:///b/2")])
    catalog.register_partitions(key_path=ORDERS, partitions=[])

    assert catalog.list_partitions(key_path=ORDERS) == ["2024-01-01", "2024-01-02"]
    with sqlite3.connect(catalog.path) as connection:
        rows = connection.execute(
            "select value, location from catalog_partitions order by value"
        ).fetchall()
    assert rows == [("2024-01-01", "file:///a/1"), ("2024-01-02", "file:///b/2")]


def test_partitions_and_tables_are_kept_per_table(catalog: LocalCatalog) -> None:
    customers = ["staging", "retail", "customers"]
    register(catalog)
    register(catalog, key_path=customers, location="file:///wh/customers")
    register(catalog, key_path=["raw", "retail", "orders"], location="file:///wh/raw")
    catalog.register_partitions(key_path=ORDERS, partitions=[("2024-01-01", "x")])
    catalog.register_partitions(key_path=customers, partitions=[("2024-01-05", "y")])

    assert catalog.list_partitions(key_path=ORDERS) == ["2024-01-01"]
    assert catalog.list_partitions(key_path=customers) == ["2024-01-05"]
    assert catalog.list_partitions(key_path=["raw", "retail", "orders"]) == []
    listed = {(t.database, t.name): t.location for t in catalog.list_tables()}
    assert listed == {
        ("dataplat_staging", "retail__orders"): "file:///wh/staging/retail/orders",
        ("dataplat_staging", "retail__customers"): "file:///wh/customers",
        ("dataplat_raw", "retail__orders"): "file:///wh/raw",
    }


def test_a_second_catalog_on_the_same_file_sees_the_tables(catalog: LocalCatalog) -> None:
    register(catalog)
    catalog.register_partitions(key_path=ORDERS, partitions=[("2024-01-01", "x")])

    reopened = LocalCatalog(path=catalog.path, database_prefix="dataplat")
    assert reopened.get_table(key_path=ORDERS).columns == catalog.get_table(key_path=ORDERS).columns
    assert reopened.list_partitions(key_path=ORDERS) == ["2024-01-01"]
    other_prefix = LocalCatalog(path=catalog.path, database_prefix="sandbox")
    assert other_prefix.get_table(key_path=ORDERS) is None


@pytest.mark.parametrize(
    ("arrow_type", "expected"),
    [
        (pa.string(), "string"),
        (pa.large_string(), "string"),
        (pa.bool_(), "boolean"),
        (pa.int8(), "tinyint"),
        (pa.int16(), "smallint"),
        (pa.int32(), "int"),
        (pa.int64(), "bigint"),
        (pa.float32(), "float"),
        (pa.float64(), "double"),
        (pa.decimal128(12, 2), "decimal(12,2)"),
        (pa.date32(), "date"),
        (pa.date64(), "date"),
        (pa.timestamp("us"), "timestamp"),
        (pa.timestamp("ns", tz="UTC"), "timestamp"),
        (pa.dictionary(pa.int32(), pa.string()), "string"),
        (pa.dictionary(pa.int8(), pa.int16()), "smallint"),
        (pa.null(), "string"),
    ],
)
def test_hive_type_names(arrow_type: pa.DataType, expected: str) -> None:
    assert hive_type(arrow_type) == expected


@pytest.mark.parametrize(
    ("arrow_type", "holds_max"),
    [(pa.uint8(), "smallint"), (pa.uint16(), "int"), (pa.uint32(), "bigint")],
)
def test_unsigned_integers_get_a_hive_type_that_holds_their_largest_value(
    arrow_type: pa.DataType, holds_max: str
) -> None:
    # Hive has only signed integers: uint8's 255 does not fit a tinyint (max 127), uint16's
    # 65535 not a smallint, uint32's 4294967295 not an int. The next wider type holds them.
    assert hive_type(arrow_type) == holds_max


def test_a_catalogue_file_from_before_withheld_windows_gets_the_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute(
            "create table catalog_partitions (database varchar not null, name varchar not null,"
            " value varchar not null, location varchar not null, updated_at datetime not null,"
            " primary key (database, name, value))"
        )
        old.execute(
            "insert into catalog_partitions values"
            " ('dataplat_raw', 'retail__orders', '2024-01-01', 'file:///w', '2024-01-01 00:00:00')"
        )
    catalog = LocalCatalog(path=str(path))
    key = ["raw", "retail", "orders"]
    assert catalog.list_partitions(key_path=key) == ["2024-01-01"]
    catalog.withhold_partitions(key_path=key, partitions=[("2024-01-01", "file:///w/v=2")])
    assert catalog.list_partitions(key_path=key) == []
    assert catalog.withheld_partitions(key_path=key) == ["2024-01-01"]
