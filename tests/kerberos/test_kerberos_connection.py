"""PostgreSQL through Kerberos/GSSAPI, for real: a KDC and a cluster set up by the session.

A SQL source's connection declares `gssencmode: require`, a keytab (from {env:}) and its
principal: the run kinits into a cache of its own and reads over a GSSAPI-encrypted session,
which the extracted `pg_stat_gssapi` row proves. Without a ticket, with a keytab of another
principal, or as a principal the server does not map to the role, the error names the
connection (and, in a run, the source and window, with nothing published).
"""

import json
import subprocess
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from dataplat_dagster.config.errors import DeclarationError
from dataplat_dagster.definitions_builder import build_definitions
from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.databases import DatabasesResource
from dataplat_dagster.resources.kerberos import KerberosError, private_cache_folder
from tests.conftest import write_project
from tests.kerberos.realm import REALM, KerberizedPostgres

DATAFLOW = """\
dataflow: shop_krb
partitioning: {granularity: daily, timezone: UTC, start: "2024-03-29", end: "2024-04-03"}
landing:
  orders:
    path: "db/orders_{date:%Y%m%d}.jsonl"
    format: jsonl
    schema: {order_id: int64, amount: float64, ts: timestamp_ntz}
    sql: {database: shop, table: orders, window_column: ts}
  session:
    path: "db/session.jsonl"
    format: jsonl
    partitioned: false
    schema: {principal: string, encrypted: bool}
    sql:
      database: shop
      query: "select principal, encrypted from pg_stat_gssapi where pid = pg_backend_pid()"
raw:
  orders: {from: landing.orders, retry: {max_retries: 0}}
  session: {from: landing.session, retry: {max_retries: 0}}
"""
REPORTING = '      reporting: {url: "sqlite:///${globals.home}/reporting.db"}\n'


@pytest.fixture(scope="module")
def orders(kerberized: KerberizedPostgres) -> KerberizedPostgres:
    kerberized.psql(
        "create table orders (order_id integer, amount double precision, ts timestamp)",
        "insert into orders values (1, 1.5, '2024-03-30 23:59:59'), (2, 2.5, '2024-03-31 00:00:00'),"
        " (3, 3.5, '2024-03-31 12:00:00'), (4, 4.5, '2024-04-01 00:00:00')",
        "alter table orders owner to extractor",
        database="shop",
    )
    return kerberized


def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster: KerberizedPostgres, shop: str
) -> Path:
    root = write_project(tmp_path / "project", {"shop_krb": DATAFLOW})
    profile = root / "resources" / "local.yaml"
    assert REPORTING in profile.read_text()
    url = cluster.url("shop")
    profile.write_text(
        profile.read_text().replace(REPORTING, f'{REPORTING}      shop: {{url: "{url}", {shop}}}\n')
    )
    monkeypatch.setenv("DATAPLAT_ENV", "local")
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("DATAPLAT_LANDING_ROOT", str(tmp_path / "landing"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return root


def run_window(root: Path, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = build_definitions(root).resolve_job_def("shop_krb_job")
    return job.execute_in_process(
        instance=instance, tags={"dagster/partition": "2024-03-31"}, raise_on_error=False
    )


def test_a_sql_source_is_extracted_over_gssapi_with_a_ticket_from_the_keytab(
    orders: KerberizedPostgres,
    krb5_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instance: dg.DagsterInstance,
) -> None:
    monkeypatch.setenv("SHOP_KEYTAB", str(orders.user_keytab))
    shop = f"gssencmode: require, keytab: {{env: SHOP_KEYTAB}}, principal: {orders.principal}"
    result = run_window(project(tmp_path, monkeypatch, orders, shop), instance)
    assert result.success, [e.message for e in result.get_step_failure_events()]
    landed = tmp_path / "landing" / "db"
    rows = [
        json.loads(line) for line in (landed / "orders_20240331.jsonl").read_text().splitlines()
    ]
    assert [r["order_id"] for r in rows] == [2, 3]
    (session,) = [json.loads(line) for line in (landed / "session.jsonl").read_text().splitlines()]
    assert session == {"principal": f"extractor@{REALM}", "encrypted": True}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            'gssencmode: require, ccache: "FILE:{tmp}/no-ticket"',
            "(Kerberos default principal): GSSAPI",
        ),
        (
            "keytab: {stranger_keytab}, principal: {principal}",
            "(Kerberos extractor@DATAPLAT.TEST): kinit with keytab",
        ),
    ],
    ids=["no-ticket", "keytab-of-another-principal"],
)
def test_a_run_without_a_valid_ticket_fails_naming_the_connection_source_and_window(
    settings: str,
    expected: str,
    orders: KerberizedPostgres,
    krb5_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instance: dg.DagsterInstance,
) -> None:
    landed = tmp_path / "landing" / "db" / "orders_20240331.jsonl"
    landed.parent.mkdir(parents=True)
    landed.write_text('{"order_id": 9, "amount": 9.0, "ts": "2024-03-31T09:00:00"}\n')
    shop = settings.format(
        tmp=tmp_path, stranger_keytab=orders.other_keytab, principal=orders.principal
    )
    result = run_window(project(tmp_path, monkeypatch, orders, shop), instance)
    assert not result.success
    (message,) = [
        e.step_failure_data.error.to_string()
        for e in result.get_step_failure_events()
        if "orders" in (e.step_key or "")
    ]
    assert "shop_krb.landing.orders window 2024-03-31: " in message
    assert f"database connection 'shop' {expected}" in message
    assert landed.read_text().startswith('{"order_id": 9,')  # nothing published


def databases(**shop: str) -> DatabasesResource:
    return DatabasesResource(connections={"shop": shop}, aws=AwsResource())


def test_a_keytab_of_another_principal_is_refused_by_kinit_naming_the_connection(
    orders: KerberizedPostgres, krb5_config: Path
) -> None:
    resource = databases(
        url=orders.url("shop"), keytab=str(orders.other_keytab), principal=orders.principal
    )
    with pytest.raises(KerberosError) as raised:
        resource.engine("shop").connect()
    message = str(raised.value)
    assert message.startswith(f"database connection 'shop' (Kerberos {orders.principal}): kinit")
    assert str(orders.other_keytab) in message


def test_a_missing_keytab_is_named(
    orders: KerberizedPostgres, krb5_config: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "gone.keytab"
    resource = databases(url=orders.url("shop"), keytab=str(missing), principal=orders.principal)
    with pytest.raises(KerberosError, match=f"'shop'.*keytab {missing} is missing or unreadable"):
        resource.engine("shop").connect()


def test_a_principal_the_server_does_not_map_to_the_role_is_refused_naming_the_connection(
    orders: KerberizedPostgres, krb5_config: Path
) -> None:
    stranger = f"stranger@{REALM}"
    resource = databases(
        url=orders.url("shop"),
        gssencmode="require",
        keytab=str(orders.other_keytab),
        principal=stranger,
    )
    with pytest.raises(sa.exc.OperationalError) as raised:
        resource.engine("shop").connect()
    message = str(raised.value.orig)
    assert message.startswith(f"database connection 'shop' (Kerberos {stranger}):")
    assert 'GSSAPI authentication failed for user "extractor"' in message


def test_an_expired_or_destroyed_ticket_is_renewed_before_the_next_connect(
    orders: KerberizedPostgres, krb5_config: Path
) -> None:
    resource = databases(
        url=orders.url("shop"),
        gssencmode="prefer",
        krbsrvname="postgres",
        keytab=str(orders.user_keytab),
        principal=orders.principal,
    )
    engine = resource.engine("shop")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("select current_user").scalar() == "extractor"
    engine.dispose()  # the next connect opens a new session, and needs a ticket again
    login_cache = private_cache_folder() / "shop"  # the connection's own cache
    login_cache.unlink()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("select current_user").scalar() == "extractor"
    assert login_cache.exists()


def test_a_ticket_the_server_refuses_is_replaced_once_from_the_keytab(
    orders: KerberizedPostgres, krb5_config: Path
) -> None:
    resource = databases(
        url=orders.url("shop"), keytab=str(orders.user_keytab), principal=orders.principal
    )
    engine = resource.engine("shop")
    with engine.connect():
        pass
    engine.dispose()
    # a valid ticket of the wrong principal (a rotated keytab, say): GSSAPI fails, kinit again
    stranger = ["-k", "-t", str(orders.other_keytab), f"stranger@{REALM}"]
    cache = f"FILE:{private_cache_folder() / 'shop'}"
    subprocess.run(["kinit", "-c", cache, *stranger], check=True, capture_output=True)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("select current_user").scalar() == "extractor"
    listed = subprocess.run(["klist", "-c", cache], check=True, capture_output=True, text=True)
    assert f"Default principal: {orders.principal}" in listed.stdout


def test_kerberos_settings_on_a_mysql_connection_are_refused_when_the_profile_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_project(tmp_path / "project", {"shop_krb": DATAFLOW})
    profile = root / "resources" / "local.yaml"
    mysql = '      shop: {url: "mysql://extractor@127.0.0.1/shop", gssencmode: require}\n'
    profile.write_text(profile.read_text().replace(REPORTING, REPORTING + mysql))
    monkeypatch.setenv("DATAPLAT_ENV", "local")
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))
    with pytest.raises(DeclarationError) as raised:
        build_definitions(root)
    message = str(raised.value)
    assert "resources/local.yaml" in message
    assert "database connection 'shop'" in message and "PostgreSQL settings" in message


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"gssencmode": "always"}, "gssencmode 'always' is not one of disable, prefer, require"),
        ({"keytab": "shop.keytab"}, "keytab and principal go together"),
        ({"principal": "extractor@X"}, "keytab and principal go together"),
    ],
)
def test_bad_kerberos_settings_are_refused_naming_the_connection(
    settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=f"database connection 'shop': {message}"):
        databases(url="postgresql://extractor@127.0.0.1/shop", **settings)


def test_a_gssencmode_from_the_environment_is_checked_when_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHOP_GSSENCMODE", "sometimes")
    resource = databases(
        url="postgresql://extractor@127.0.0.1/shop", gssencmode=dg.EnvVar("SHOP_GSSENCMODE")
    )  # the variable's name is no mode: nothing to check before the run reads it
    with pytest.raises(dg.DagsterResourceFunctionError) as raised:
        with dg.build_resources({"databases": resource}):
            pass
    cause = str(raised.value.__cause__)
    assert "database connection 'shop': gssencmode 'sometimes' is not one of" in cause
