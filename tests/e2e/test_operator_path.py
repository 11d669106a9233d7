"""The operator's path, for real: runs launched by Dagster itself, in its run workers.

Against `dataplat ui` (webserver, daemon, code server; see conftest.py) over a project the
operator built with `dataplat run`, on the local SQLite instance and on a PostgreSQL one:
what the UI shows after `dataplat run`, the sensors' first ticks (nothing to rebuild), (a) a
partitioned run launched over GraphQL, (b) a landing file dropped and the sensor's run,
(c) a schedule tick, (d) a range backfill launched over GraphQL. After each, the warehouse's
manifests, the catalogue's partitions and the checks' results are read back. The server is
stopped with SIGTERM at the end and no process of it may be left.
"""

import shutil
import time

import pytest
from dagster_graphql import DagsterGraphQLClient

from tests.e2e.conftest import LOCATION, REPOSITORY, Operator

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

ORDERS = "retail_orders_file_arrival_sensor"
WINDOW_TABLES = [
    "raw/retail/orders",
    "staging/retail/orders",
    "common/retail/orders_enriched",
    "business/retail/daily_revenue",
    "business/retail/customer_value",
    "output/retail/daily_revenue_csv",
    "output/retail/daily_revenue_table",
]


def assert_window_built(operator: Operator, window: str, run_id: str) -> None:
    """Every table of the window published by `run_id`, served in the catalogue, checks passed."""
    for key in WINDOW_TABLES:
        manifest = operator.manifest(key, window)
        assert manifest is not None, f"{key} {window} has no manifest"
        assert manifest["write_id"].startswith(run_id[:8]) or key.startswith("output/")
        assert manifest["failed_checks"] == []
    assert operator.manifest("staging/retail/orders", window)["rows"] > 0
    assert window in operator.catalog_partitions("staging/retail/orders")
    for key, check in [
        ("staging/retail/orders", "count_audit"),
        ("common/retail/orders_enriched", "referential_customer_id"),
        ("common/retail/orders_enriched", "ge_column_values_to_not_be_null_category"),
    ]:
        executions = [
            e for e in operator.check_executions(key, check, window) if e["runId"] == run_id
        ]
        assert [e["evaluation"]["success"] for e in executions] == [True], (key, check)


def test_the_ui_shows_what_dataplat_run_built(operator: Operator) -> None:
    statuses = operator.partition_statuses("common/retail/orders_enriched")
    # one range run: Dagster records its output for every window of the range, so the window
    # that failed its ERROR gate (2024-01-05) is shown materialized, with the verdict on it
    assert {statuses[f"2024-01-0{d}"] for d in range(1, 8)} == {"MATERIALIZED"}
    failed = operator.materialization_metadata("common/retail/orders_enriched", "2024-01-05")
    assert failed["failed_checks"] == '["referential_customer_id"]'
    left_out = operator.materialization_metadata("business/retail/daily_revenue", "2024-01-05")
    assert left_out["dataplat/left_out"] == (
        "common/retail/orders_enriched failed its quality gate (referential_customer_id)"
    )
    built = operator.materialization_metadata("business/retail/daily_revenue", "2024-01-04")
    assert "dataplat/left_out" not in built and built["dagster/row_count"]
    # a quarantine without rejected rows is a materialized (empty) window, not a failure
    quarantine = operator.partition_statuses("staging/retail/orders__quarantine")
    assert {quarantine[f"2024-01-0{d}"] for d in range(1, 8)} == {"MATERIALIZED"}
    observed = operator.graphql(OBSERVATIONS, assetKey={"path": ["landing", "retail", "orders"]})
    partitions = {o["partition"] for o in observed["assetOrError"]["assetObservations"]}
    assert partitions >= {f"2024-01-0{d}" for d in range(1, 8)}


def test_the_sensors_request_nothing_for_windows_already_built(operator: Operator) -> None:
    deadline = time.monotonic() + 120
    while True:  # wait for the orders sensor's first tick
        ticks = operator.graphql(TICKS, sensorName=ORDERS)["sensorOrError"]["sensorState"]["ticks"]
        if ticks and ticks[0]["status"] != "STARTED":  # a finished tick
            break
        assert time.monotonic() < deadline, operator.tail()
        time.sleep(2)
    assert ticks[0]["status"] == "SKIPPED", ticks[0]
    assert "7 window(s) already built from the same files" in ticks[0]["skipReason"]
    assert operator.runs() == [] or all(
        r["tags"] and {"key": "dagster/sensor_name", "value": ORDERS} not in r["tags"]
        for r in operator.runs()
    )
    # nothing was requested or failed, so nobody was told of arrivals or failed runs
    outbox = [p.name for p in (operator.state / "outbox").glob("*.eml")]
    assert [n for n in outbox if "-failure-" in n or "-file_arrival-" in n] == []


def test_a_partitioned_run_launched_over_graphql(operator: Operator) -> None:
    client = DagsterGraphQLClient("127.0.0.1", port_number=operator.port)
    run_id = client.submit_job_execution(
        "retail_job",
        repository_location_name=LOCATION,
        repository_name=REPOSITORY,
        tags={"dagster/partition": "2024-01-03"},
    )
    operator.seen_runs.add(run_id)
    run = operator.wait_for_run(run_id)
    assert run["status"] == "SUCCESS", operator.tail()
    assert_window_built(operator, "2024-01-03", run_id)


def test_a_dropped_file_starts_the_sensor_run_of_its_window(operator: Operator) -> None:
    text = (operator.landing / "retail" / "orders_20240107.csv").read_text()
    new = text.replace("2024-01-07", "2024-01-08").replace("\n11", "\n21")
    (operator.landing / "retail" / "orders_20240108.csv").write_text(new)

    run = operator.wait_for_new_run(**{"dagster/partition": "2024-01-08"})

    assert run["status"] == "SUCCESS", operator.tail()
    assert run["jobName"] == "retail_job"  # the dataflow's job, not an anonymous asset job
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags["dagster/sensor_name"] == ORDERS
    assert tags["dataplat/files"] == "retail/orders_20240108.csv"
    assert_window_built(operator, "2024-01-08", run["runId"])


def test_a_schedule_tick_runs_the_window_not_built_yet(operator: Operator) -> None:
    sensor = operator.graphql(SENSOR, sensorName=ORDERS)["sensorOrError"]
    stopped = operator.graphql(STOP_SENSOR, id=sensor["sensorState"]["id"])
    assert stopped["stopSensor"]["instigationState"]["status"] == "STOPPED"
    shutil.copyfile(
        operator.landing / "retail" / "orders_20240108.csv",
        operator.landing / "retail" / "orders_20240109.csv",
    )
    (operator.landing / "retail" / "orders_20240109.csv").write_text(
        (operator.landing / "retail" / "orders_20240108.csv")
        .read_text()
        .replace("2024-01-08", "2024-01-09")
        .replace("\n21", "\n31")
    )
    started = operator.graphql(START_SCHEDULE, scheduleName="retail_job_schedule")
    assert started["startSchedule"]["scheduleState"]["status"] == "RUNNING"
    try:
        run = operator.wait_for_new_run(
            timeout=200, **{"dagster/schedule_name": "retail_job_schedule"}
        )
    finally:
        schedule = operator.graphql(SCHEDULE, scheduleName="retail_job_schedule")
        operator.graphql(STOP_SCHEDULE, id=schedule["scheduleOrError"]["scheduleState"]["id"])
    assert run["status"] == "SUCCESS", operator.tail()
    tags = {t["key"]: t["value"] for t in run["tags"]}
    # the tick looked at 07, 08 and 09: the first two are built from unchanged files
    assert tags["dagster/partition"] == "2024-01-09"
    assert_window_built(operator, "2024-01-09", run["runId"])


def test_a_range_backfill_launched_over_graphql(operator: Operator) -> None:
    keys = [{"path": key.split("/")} for key in WINDOW_TABLES] + [
        {"path": ["raw", "retail", "orders__quarantine"]},
        {"path": ["staging", "retail", "orders__quarantine"]},
    ]
    windows = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    launched = operator.graphql(BACKFILL, assets=keys, partitions=windows)
    backfill_id = launched["launchPartitionBackfill"]["backfillId"]
    deadline = time.monotonic() + 300
    while True:
        backfill = operator.graphql(BACKFILL_STATUS, id=backfill_id)["partitionBackfillOrError"]
        if backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED"):
            break
        assert time.monotonic() < deadline, operator.tail()
        time.sleep(2)
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
    runs = operator.runs(**{"dagster/backfill": backfill_id})
    assert len(runs) == 1  # single-run policy: the whole range in one run
    (run,) = runs
    assert run["status"] == "SUCCESS", operator.tail()
    for window in windows:
        assert_window_built(operator, window, run["runId"])


OBSERVATIONS = """
query ($assetKey: AssetKeyInput!) { assetOrError(assetKey: $assetKey) { ... on Asset {
  assetObservations(limit: 50) { partition } } } }
"""
TICKS = f"""
query ($sensorName: String!) {{ sensorOrError(sensorSelector: {{
  repositoryLocationName: "{LOCATION}", repositoryName: "{REPOSITORY}", sensorName: $sensorName}}) {{
  ... on Sensor {{ sensorState {{ ticks(limit: 1) {{ status skipReason }} }} }} }} }}
"""
SENSOR = f"""
query ($sensorName: String!) {{ sensorOrError(sensorSelector: {{
  repositoryLocationName: "{LOCATION}", repositoryName: "{REPOSITORY}", sensorName: $sensorName}}) {{
  ... on Sensor {{ sensorState {{ id status }} }} }} }}
"""
STOP_SENSOR = """
mutation ($id: String!) { stopSensor(id: $id) {
  ... on StopSensorMutationResult { instigationState { status } } } }
"""
_SCHEDULE = f"""{{repositoryLocationName: "{LOCATION}", repositoryName: "{REPOSITORY}",
  scheduleName: $scheduleName}}"""
START_SCHEDULE = f"""
mutation ($scheduleName: String!) {{ startSchedule(scheduleSelector: {_SCHEDULE}) {{
  ... on ScheduleStateResult {{ scheduleState {{ status }} }} }} }}
"""
SCHEDULE = f"""
query ($scheduleName: String!) {{ scheduleOrError(scheduleSelector: {_SCHEDULE}) {{
  ... on Schedule {{ scheduleState {{ id status }} }} }} }}
"""
STOP_SCHEDULE = """
mutation ($id: String!) { stopRunningSchedule(id: $id) {
  ... on ScheduleStateResult { scheduleState { status } } } }
"""
BACKFILL = """
mutation ($assets: [AssetKeyInput!], $partitions: [String!]) {
  launchPartitionBackfill(backfillParams: {assetSelection: $assets, partitionNames: $partitions}) {
    ... on LaunchBackfillSuccess { backfillId } } }
"""
BACKFILL_STATUS = """
query ($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill {
  status } } }
"""
