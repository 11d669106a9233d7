"""Declaration errors of extracted sources, refused when the dataflow loads."""

import pytest
from pydantic import ValidationError

from dataplat_dagster.config.models import LandingSource

SCHEMA = {"order_id": "int64", "ts": "timestamp"}
HTTP = {"url": "http://127.0.0.1/orders"}


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ({"format": "csv", "http": HTTP}, "lands JSON lines: set format: jsonl"),
        ({"http": HTTP, "sql": {"database": "shop", "table": "t"}}, "`http` or `sql`, not both"),
        (
            {"sql": {"database": "shop", "table": "t", "window_column": "day"}},
            "'day' is not in the schema",
        ),
        ({"path": "api/orders_*.jsonl", "http": HTTP}, "one file per window: no \\*"),
        (
            {"http": {**HTTP, "pagination": {"type": "cursor", "param": "c"}}},
            "cursor needs cursor_path",
        ),
        ({"http": {**HTTP, "auth": {"type": "bearer"}}}, "one of secret, secret_env or secret_ssm"),
        (
            {"http": {**HTTP, "auth": {"type": "bearer", "secret": "s3cret"}}},
            r"auth.secret takes \{env: NAME\} or \{ssm: /parameter/name\}, never the secret",
        ),
        (
            {"http": {**HTTP, "headers": {"X-Key": ["a"]}}},
            r"headers.X-Key\n.*expected text, \{env: NAME\} or \{ssm: /parameter/name\}",
        ),
    ],
)
def test_refused(declared: dict, message: str) -> None:
    fields = {
        "path": "api/orders_{date:%Y%m%d}.jsonl",
        "format": "jsonl",
        "schema": SCHEMA,
        **declared,
    }
    with pytest.raises(ValidationError, match=message):
        LandingSource.model_validate(fields)


def test_an_extracted_source_is_marked_so() -> None:
    source = LandingSource.model_validate(
        {"path": "api/o_{date:%Y%m%d}.jsonl", "format": "jsonl", "schema": SCHEMA, "http": HTTP}
    )
    assert source.extracted and source.http is not None and source.http.pagination.type == "none"


def test_the_loader_names_file_line_and_field(tmp_path, monkeypatch) -> None:
    from dataplat_dagster.config.errors import DeclarationError
    from dataplat_dagster.definitions_builder import build_definitions
    from tests.conftest import write_project

    text = """\
dataflow: shop_api
partitioning: {granularity: daily, timezone: Europe/Berlin, start: "2024-03-29"}
landing:
  orders:
    path: "api/orders_{date:%Y%m%d}.jsonl"
    format: jsonl
    schema: {order_id: int64}
    http: {url: "http://127.0.0.1/orders", pagination: {type: cursor, param: c}}
raw:
  orders: {from: landing.orders}
"""
    root = write_project(tmp_path, {"shop_api": text})
    monkeypatch.setenv("DATAPLAT_ENV", "local")
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("DATAPLAT_LANDING_ROOT", str(tmp_path / "landing"))
    with pytest.raises(DeclarationError, match=r"line 8: landing\.orders\.http\.pagination: "):
        build_definitions(root)


def test_an_unknown_connection_of_a_sql_source_is_refused_at_load(tmp_path, monkeypatch) -> None:
    from dataplat_dagster.config.errors import DeclarationError
    from dataplat_dagster.definitions_builder import build_definitions
    from tests.conftest import write_project

    text = """\
dataflow: shop_db
partitioning: {granularity: daily, timezone: UTC, start: "2024-03-29"}
landing:
  orders:
    path: "db/orders_{date:%Y%m%d}.jsonl"
    format: jsonl
    schema: {order_id: int64, ts: timestamp}
    sql: {database: shop, table: orders, window_column: ts}
raw:
  orders: {from: landing.orders}
"""
    root = write_project(tmp_path, {"shop_db": text})
    monkeypatch.setenv("DATAPLAT_ENV", "local")
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("DATAPLAT_LANDING_ROOT", str(tmp_path / "landing"))
    with pytest.raises(DeclarationError) as raised:
        build_definitions(root)
    message = str(raised.value)
    assert "assets/shop_db/dataflow.yaml" in message
    assert (
        "line 8: landing.orders.sql.database: no connection 'shop' under resources.databases"
        in message
    )
    assert "(known: reporting)" in message
