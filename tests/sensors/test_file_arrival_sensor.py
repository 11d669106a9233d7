"""The Dagster file-arrival sensors of the demo: `dataplat_dagster.sensors`.

Covers `retail_orders_file_arrival_sensor` and `retail_customers_file_arrival_sensor` called
directly with `dg.build_sensor_context` on the local profile (a writable copy of the demo's
landing folder, the outbox notifier): run requests (job, partition keys, run keys, tags, the
assets selected, dimensions never built), the cursor, one `file_arrival` notice per tick that
requests runs or reports files, skip reasons, late and replaced files, unmatched names,
observations of the landing assets, and windows already built from the same files (not
requested again, whoever built them). Runs here are in process; the daemon launching the
sensors' runs is covered in tests/e2e. The windowing logic is covered in test_arrivals.py.
"""

import os
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import dagster as dg
import pytest

from dataplat_dagster.arrival_targets import arrival_targets
from dataplat_dagster.arrivals import Cursor
from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import build_plan
from dataplat_dagster.environment import get_environment
from dataplat_dagster.sensors import sensor_name
from tests.conftest import DEMO_WINDOWS, PROJECT_ROOT, run_demo

ORDERS = "retail_orders_file_arrival_sensor"
CUSTOMERS = "retail_customers_file_arrival_sensor"


def file_of(window: str) -> str:
    return f"retail/orders_{window.replace('-', '')}.csv"


@pytest.fixture
def tick(demo_defs: dg.Definitions, instance: dg.DagsterInstance):
    """Evaluate a sensor of the demo once, as the daemon would, with the given cursor."""

    def evaluate(name: str = ORDERS, cursor: str | None = None) -> dg.SensorResult:
        sensor = demo_defs.resolve_sensor_def(name)
        with dg.build_sensor_context(
            cursor=cursor, resources=dict(demo_defs.resources), instance=instance
        ) as context:
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


CUSTOMER_TABLES = {
    "raw/retail/customers",
    "raw/retail/customers__quarantine",
    "staging/retail/customers",
    "staging/retail/customers__quarantine",
    "common/retail/customers",
}
PRODUCT_TABLES = {
    "raw/retail/products",
    "raw/retail/products__quarantine",
    "staging/retail/products",
    "staging/retail/products__quarantine",
}
ORDER_TABLES = {
    "raw/retail/orders",
    "raw/retail/orders__quarantine",
    "staging/retail/orders",
    "staging/retail/orders__quarantine",
    "common/retail/orders_enriched",
    "business/retail/daily_revenue",
    "business/retail/customer_value",
    "output/retail/daily_revenue_csv",
    "output/retail/daily_revenue_table",
}


def selected(request: dg.RunRequest) -> set[str]:
    return {key.to_user_string() for key in request.asset_selection or []}


def test_requests_run_the_dataflow_job_with_the_dimensions_never_built(
    tick, local_env: Path
) -> None:
    for request in tick().run_requests or []:
        assert request.job_name == "retail_job"  # a named job, not Dagster's implicit one
        # nothing is built yet: the window's run also builds the dimensions it reads
        assert selected(request) == ORDER_TABLES | CUSTOMER_TABLES | PRODUCT_TABLES


def test_the_sensors_target_the_dataflow_job(demo_defs: dg.Definitions) -> None:
    for name in (ORDERS, CUSTOMERS):
        assert demo_defs.resolve_sensor_def(name).job_name == "retail_job"


@pytest.mark.parametrize(
    ("name", "expected"), [(CUSTOMERS, CUSTOMER_TABLES), (ORDERS, ORDER_TABLES)]
)
def test_what_an_arrival_rebuilds_once_the_dimensions_are_built(
    tick, demo_defs: dg.Definitions, instance, landing_copy: Path, name: str, expected: set[str]
) -> None:
    run_demo(demo_defs, instance, ["2024-01-03"])
    path = landing_copy / ("retail/customers.csv" if name == CUSTOMERS else file_of("2024-01-03"))
    path.write_bytes(path.read_bytes() + b"\n")  # a new version of the file
    first = tick(name)
    requests = [r for r in first.run_requests or [] if r.partition_key in (None, "2024-01-03")]
    [request] = requests
    assert selected(request) == expected


def test_windows_built_from_the_same_files_are_not_requested_again(
    tick, demo_defs: dg.Definitions, instance, local_env: Path, landing_copy: Path
) -> None:
    for window in DEMO_WINDOWS:  # as `dataplat run retail --all` does: one run per window
        run_demo(demo_defs, instance, [window], raise_on_error=False)

    first = tick()  # a new sensor (empty cursor) over files that were all loaded already

    assert not first.run_requests
    reason = first.skip_reason.skip_message or ""
    assert "7 window(s) already built from the same files" in reason
    # 2024-01-05 failed its ERROR gate in common: same files, same outcome, no new run
    assert "held back by a closed quality gate: retail.business.customer_value" in reason
    assert notices(local_env) == [] or all(
        "run(s) requested" not in n["Subject"] for n in notices(local_env)
    )
    # every file seen is recorded on the landing asset, with its window and version
    observed = [e for e in first.asset_events if isinstance(e, dg.AssetObservation)]
    assert sorted(o.partition for o in observed) == DEMO_WINDOWS
    assert {o.metadata["file"].value for o in observed} == {file_of(w) for w in DEMO_WINDOWS}
    assert all(o.asset_key == dg.AssetKey(["landing", "retail", "orders"]) for o in observed)

    # a new version of one file: only its window is requested, dimensions are built already
    path = landing_copy / file_of("2024-01-03")
    path.write_bytes(path.read_bytes() + b"\n")
    second = tick(cursor=first.cursor)
    [request] = second.run_requests or []
    assert request.partition_key == "2024-01-03"
    assert selected(request) == ORDER_TABLES
    assert "built from other file versions" in request.tags["dataplat/reason"]


def test_a_window_missing_a_table_below_is_requested(
    tick, demo_defs: dg.Definitions, instance, local_env: Path
) -> None:
    run_demo(demo_defs, instance, ["2024-01-03"])
    export = local_env / "warehouse" / "output" / "retail" / "daily_revenue_csv" / "dt=2024-01-03"
    (export / "_manifest.json").unlink()  # as if the output step had crashed

    requests = tick().run_requests or []

    request = next(r for r in requests if r.partition_key == "2024-01-03")
    assert (
        "retail.output.daily_revenue_csv has not been built for window 2024-01-03"
        in (request.tags["dataplat/reason"])
    )


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
