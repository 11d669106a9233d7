"""The Dagster file-arrival sensors of the demo: `dataplat_dagster.sensors`.

Covers `retail_orders_file_arrival_sensor` and `retail_customers_file_arrival_sensor` called
directly with `dg.build_sensor_context` on the local profile (a writable copy of the demo's
landing folder, the outbox notifier): run requests (partition keys, run keys, tags), the
cursor, one `file_arrival` notice per tick that requests runs or reports files, skip reasons,
late and replaced files, unmatched names, and which assets an arrival rebuilds
(`arrival_targets`). No run is launched and no daemon is involved; the windowing logic
itself is covered in test_arrivals.py.
"""

import os
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import dagster as dg
import pytest

from dataplat_dagster.arrivals import Cursor
from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import build_plan
from dataplat_dagster.environment import get_environment
from dataplat_dagster.sensors import arrival_targets, sensor_name
from tests.conftest import DEMO_WINDOWS, PROJECT_ROOT

ORDERS = "retail_orders_file_arrival_sensor"
CUSTOMERS = "retail_customers_file_arrival_sensor"


def file_of(window: str) -> str:
    return f"retail/orders_{window.replace('-', '')}.csv"


@pytest.fixture
def tick(demo_defs: dg.Definitions, instance: dg.DagsterInstance):
    """Evaluate a sensor of the demo once, as the daemon would, with the given cursor."""

    def evaluate(name: str = ORDERS, cursor: str | None = None) -> dg.SensorResult:
        sensor = demo_defs.resolve_sensor_def(name)
        context = dg.build_sensor_context(
            cursor=cursor,
            resources={
                "file_store": demo_defs.resources["file_store"],
                "notifier": demo_defs.resources["notifier"],
            },
            instance=instance,
        )
        result = sensor(context)
        assert isinstance(result, dg.SensorResult)
        return result

    return evaluate


def notices(state: Path) -> list[EmailMessage]:
    """The `.eml` files of the outbox, oldest first."""
    return [
        message_from_bytes(path.read_bytes(), policy=policy.default)  # type: ignore[misc]
        for path in sorted((state / "outbox").glob("*.eml"))
    ]


def test_the_first_tick_requests_every_window_of_the_demo(tick, local_env: Path) -> None:
    result = tick()

    requests = result.run_requests or []
    assert [r.partition_key for r in requests] == DEMO_WINDOWS
    for request in requests:
        assert re.fullmatch(rf"{ORDERS}:{request.partition_key}:[0-9a-f]{{16}}", request.run_key)
        assert request.tags["dataplat/files"] == file_of(request.partition_key)
        assert request.tags["dataflow"] == "retail"
    assert len({r.run_key for r in requests}) == 7
    cursor = Cursor.from_json(result.cursor)
    assert sorted(cursor.seen) == [file_of(w) for w in DEMO_WINDOWS]
    assert cursor.reported == {} and cursor.waiting == {}

    [notice] = notices(local_env)
    assert notice["X-Dataplat-Kind"] == "file_arrival"
    assert "7 run(s) requested" in notice["Subject"]
    body = notice.get_content()
    for window in DEMO_WINDOWS:
        assert f"Window {window}: run requested for 1 file(s)" in body
        assert file_of(window) in body


def test_a_tick_with_nothing_new_skips_and_sends_nothing(tick, local_env: Path) -> None:
    first = tick()
    second = tick(cursor=first.cursor)

    assert not second.run_requests
    assert second.skip_reason is not None
    assert "no new file matching 'retail/orders_{date:%Y%m%d}.csv'" in (
        second.skip_reason.skip_message or ""
    )
    assert Cursor.from_json(second.cursor) == Cursor.from_json(first.cursor)
    assert len(notices(local_env)) == 1


@pytest.mark.parametrize("older", [False, True], ids=["newer-mtime", "older-mtime-within-overlap"])
def test_a_file_dropped_later_requests_its_window_again(
    tick, local_env: Path, landing_copy: Path, older: bool
) -> None:
    first = tick()
    path = landing_copy / file_of("2024-01-03")
    with path.open("a", newline="") as handle:
        handle.write("9001,3,P01,1,2.5,paid,2024-01-03T23:59:00\r\n")
    if older:  # a copy that kept an old timestamp, yet within the sensor's 5 minute overlap
        newest = Cursor.from_json(first.cursor).mtime
        os.utime(path, (newest - 120, newest - 120))

    second = tick(cursor=first.cursor)

    [request] = second.run_requests or []
    assert request.partition_key == "2024-01-03"
    assert request.tags["dataplat/files"] == file_of("2024-01-03")
    before = next(r for r in first.run_requests or [] if r.partition_key == "2024-01-03")
    assert request.run_key != before.run_key
    assert len(notices(local_env)) == 2
    assert "1 run(s) requested" in notices(local_env)[-1]["Subject"]
    assert not tick(cursor=second.cursor).run_requests  # and only once


def test_a_file_for_an_old_window_arriving_later_is_requested(
    tick, local_env: Path, landing_copy: Path
) -> None:
    for window in DEMO_WINDOWS[:2]:
        (landing_copy / file_of(window)).unlink()
    first = tick()
    assert [r.partition_key for r in first.run_requests or []] == DEMO_WINDOWS[2:]

    (landing_copy / file_of("2024-01-01")).write_text(
        "order_id,customer_id,product_id,quantity,unit_price,status,ordered_at\n"
        "1,1,P01,1,1.0,paid,2024-01-01T10:00:00\n"
    )
    late = tick(cursor=first.cursor)

    assert [r.partition_key for r in late.run_requests or []] == ["2024-01-01"]
    assert len(notices(local_env)) == 2


def test_an_unmatched_file_is_reported_in_the_notice_once(
    tick, local_env: Path, landing_copy: Path
) -> None:
    # the sources of one folder share it: one of them (the first by name) reports stray files
    first = tick(CUSTOMERS)
    orders_first = tick()
    (landing_copy / "retail" / "orders_2024x.csv").write_text("order_id\n1\n")

    second = tick(CUSTOMERS, cursor=first.cursor)

    assert not second.run_requests
    assert second.skip_reason is not None
    assert "1 file(s) match no window and were reported" in (second.skip_reason.skip_message or "")
    assert Cursor.from_json(second.cursor).reported.keys() == {"retail/orders_2024x.csv"}
    messages = notices(local_env)
    assert len(messages) == 3
    assert messages[-1]["X-Dataplat-Kind"] == "file_arrival"
    assert "1 unmatched" in messages[-1]["Subject"]
    body = messages[-1].get_content()
    assert "Files that match no window (not loaded):" in body
    assert "retail/orders_2024x.csv: matches no landing pattern of the dataflow" in body

    third = tick(CUSTOMERS, cursor=second.cursor)
    assert not third.run_requests and len(notices(local_env)) == 3
    assert "no new file" in (third.skip_reason.skip_message or "")
    orders_second = tick(cursor=orders_first.cursor)  # the orders sensor stays silent about it
    assert not orders_second.run_requests and len(notices(local_env)) == 3


def test_the_customers_sensor_requests_one_unpartitioned_run(tick, local_env: Path) -> None:
    result = tick(CUSTOMERS)

    [request] = result.run_requests or []
    assert request.partition_key is None
    assert re.fullmatch(rf"{CUSTOMERS}:all:[0-9a-f]{{16}}", request.run_key)
    assert request.tags["dataplat/files"] == "retail/customers.csv"
    assert "dagster/asset_partition_range_start" not in request.tags
    assert not tick(CUSTOMERS, result.cursor).run_requests
    [notice] = notices(local_env)
    assert "Window all data: run requested for 1 file(s)" in notice.get_content()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            CUSTOMERS,
            {
                "raw/retail/customers",
                "raw/retail/customers__quarantine",
                "staging/retail/customers",
                "staging/retail/customers__quarantine",
                "common/retail/customers",
            },
        ),
        (
            ORDERS,
            {
                "raw/retail/orders",
                "raw/retail/orders__quarantine",
                "staging/retail/orders",
                "staging/retail/orders__quarantine",
                "common/retail/orders_enriched",
                "business/retail/daily_revenue",
                "business/retail/customer_value",
                "output/retail/daily_revenue_csv",
                "output/retail/daily_revenue_table",
            },
        ),
    ],
)
def test_what_an_arrival_rebuilds(demo_defs: dg.Definitions, name: str, expected: set[str]) -> None:
    sensor = demo_defs.resolve_sensor_def(name)
    assert sensor.asset_selection is not None
    keys = sensor.asset_selection.resolve(demo_defs.resolve_asset_graph())
    assert {key.to_user_string() for key in keys} == expected


def test_arrival_targets_of_the_unpartitioned_source(local_env: Path) -> None:
    plan = build_plan(load_project(PROJECT_ROOT, get_environment()).dataflows)
    landing = next(
        t for t in plan if t.layer == "landing" and str(t.id) == "retail.landing.customers"
    )

    targets = arrival_targets(landing, plan)

    assert sensor_name(landing) == CUSTOMERS
    assert [str(t.id) for t in targets] == [
        "retail.raw.customers",
        "retail.staging.customers",
        "retail.common.customers",
    ]
    assert all(t.partitioning is None for t in targets)
