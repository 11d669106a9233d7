"""Deploy and validate contract tables on SQLite, PostgreSQL and MariaDB.

Each test gets a fresh database (tests/conftest.py), creates or alters tables and compares
what `deploy` and `validate` say with what the database holds.
"""

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from dataplat_dagster.assets.sql_output import SqlTarget, write_sql_output
from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import build_plan
from dataplat_dagster.contracts.collect import contract_tables
from dataplat_dagster.contracts.deploy import deploy, validate
from dataplat_dagster.contracts.revisions import pending, script_directory, write_revision
from tests.conftest import PROJECT_ROOT


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'target.db'}"
    elif request.param == "postgres":
        url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{request.getfixturevalue('postgres_database')}"
    else:
        url = f"mysql+pymysql://root@127.0.0.1:3306/{request.getfixturevalue('mariadb_database')}"
    created = sa.create_engine(url)
    yield created
    created.dispose()


def _orders(*extra: sa.Column) -> sa.Table:
    """The contract table orders; each call is a version of its own (its own MetaData)."""
    return sa.Table(
        "orders",
        sa.MetaData(),
        sa.Column("order_id", sa.BigInteger, primary_key=True),
        sa.Column("customer", sa.String(80)),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True)),
        sa.Column("paid", sa.Boolean),
        *extra,
    )


def test_deploy_creates_then_changes_nothing(engine: sa.Engine) -> None:
    first = deploy("t", engine, [_orders()])
    assert (first.created, first.added, first.drift) == (["orders"], [], [])
    again = deploy("t", engine, [_orders()])
    assert (again.created, again.added, again.drift) == ([], [], [])
    assert validate("t", engine, [_orders()]).drift == []


def test_dry_run_changes_nothing(engine: sa.Engine) -> None:
    assert deploy("t", engine, [_orders()], dry_run=True).created == ["orders"]
    assert not sa.inspect(engine).has_table("orders")


def test_an_added_contract_column_is_added_by_deploy(engine: sa.Engine) -> None:
    deploy("t", engine, [_orders()])
    with engine.begin() as connection:
        connection.execute(_orders().insert().values(order_id=1, amount=2.5))
    version_two = _orders(sa.Column("note", sa.String(200)))
    assert [str(d) for d in validate("t", engine, [version_two]).drift] == [
        "t: orders.note: column missing (expected string)"
    ]
    report = deploy("t", engine, [version_two])
    assert (report.created, report.added, report.drift) == ([], ["orders.note"], [])
    assert "op.add_column('orders', sa.Column('note', sa.String(length=200)" in report.upgrade
    assert validate("t", engine, [version_two]).drift == []
    with engine.connect() as connection:  # the row is still there
        assert connection.execute(sa.text("select count(*) from orders")).scalar() == 1


def test_validate_reports_every_kind_of_drift(engine: sa.Engine) -> None:
    found = sa.Table(
        "orders",
        sa.MetaData(),
        sa.Column("order_id", sa.BigInteger, primary_key=True),
        sa.Column("customer", sa.Integer),  # contract: string
        sa.Column("amount", sa.Numeric(12, 2), nullable=True),  # contract: not null
        sa.Column("paid", sa.Boolean),
        sa.Column("legacy", sa.String(10)),  # not in the contract
    )  # placed_at missing
    found.create(engine)
    customers = sa.Table("customers", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    drift = validate("t", engine, [_orders(), customers]).drift
    assert sorted(str(d) for d in drift) == [
        "t: customers: table missing",
        "t: orders.amount: nullability: expected not null, found nullable",
        "t: orders.customer: type: expected string, found "
        + ("integer (64-bit)" if engine.dialect.name == "sqlite" else "integer (32-bit)"),
        "t: orders.legacy: column not in the contract (found string)",
        "t: orders.placed_at: column missing (expected timestamp with time zone)",
    ]
    # deploy adds what is missing and leaves the rest to a person: no drop, no retype
    report = deploy("t", engine, [_orders(), customers])
    assert report.created == ["customers"]
    assert report.added == ["orders.placed_at"]
    assert sorted(d.kind for d in report.drift) == ["extra_column", "nullability", "type"]


@pytest.fixture(scope="module")
def demo_output() -> tuple[sa.Table, SqlTarget]:
    """The demo's daily_revenue contract table and its SQL output, as the plan resolves them."""
    plan = build_plan(load_project(PROJECT_ROOT, "local").dataflows)
    (entry,) = contract_tables(plan)
    (output,) = [p for p in plan if str(p.id) == "retail.output.daily_revenue_table"]
    spec = output.spec
    target = SqlTarget(str(output.id), "reporting", spec.table, ("2024-01-03",), spec.columns)
    return entry.table, target


def test_the_demo_output_writes_into_the_table_deploy_made(
    engine: sa.Engine, demo_output: tuple[sa.Table, SqlTarget]
) -> None:
    table, target = demo_output
    assert deploy("t", engine, [table]).created == ["daily_revenue"]
    rows = pa.table(
        {
            "order_date": pa.array([date(2024, 1, 3)] * 2),
            "country": ["BE", None],  # a customer without a country: a warning upstream
            "category": ["books", "games"],
            "orders": pa.array([2, 1], pa.int64()),
            "revenue": [20.5, 7.9],
            "currency": ["EUR", "EUR"],
        }
    )
    written = write_sql_output(engine, target, rows)
    assert (written.rows, written.created, written.added_columns) == (2, False, ())
    assert validate("t", engine, [table]).drift == []


def test_revisions_carry_additive_changes_that_deploy_applies(
    engine: sa.Engine, tmp_path: Path
) -> None:
    script = script_directory(tmp_path, create=True)
    first = write_revision(script, "orders", deploy("dev", engine, [_orders()], True).upgrade)
    assert "op.create_table('orders'," in first.read_text()
    report = deploy("t", engine, [_orders()], script=script)
    assert len(report.revisions) == 1 and report.revisions[0].endswith("(orders)")
    assert (report.created, report.added, report.drift) == ([], [], [])  # the revision made it
    version_two = _orders(sa.Column("note", sa.String(200)))
    body = deploy("dev", engine, [version_two], True).upgrade
    write_revision(script, "orders note", body)
    with engine.connect() as connection:
        assert [r.split(" ", 1)[1] for r in pending(connection, script)] == ["(orders note)"]
    report = deploy("t", engine, [version_two], script=script)
    assert [r.split(" ", 1)[1] for r in report.revisions] == ["(orders note)"]
    assert (report.created, report.added, report.drift) == ([], [], [])
    again = deploy("t", engine, [version_two], script=script)
    assert (again.revisions, again.created, again.added) == ([], [], [])
    assert validate("t", engine, [version_two]).drift == []
