"""LocalMetrics: operational metrics appended to a SQLite file.

Covers put/query (order, filtering by name, timestamps, units, dimensions, the namespace
column) and the helpers record_materialization, record_check_failure and
record_run_failure. The SQLite file lives on tmp_path; CloudWatch is not touched.
"""

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dataplat_dagster.resources.metrics import NAMESPACE, LocalMetrics, Metric


@pytest.fixture
def metrics(tmp_path: Path) -> LocalMetrics:
    return LocalMetrics(path=str(tmp_path / "nested" / "metrics.db"))


def test_an_empty_store_has_no_metrics(metrics: LocalMetrics) -> None:
    assert metrics.query() == []
    assert metrics.query("rows_out") == []


def test_put_then_query_round_trips_in_order(metrics: LocalMetrics) -> None:
    moment = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    first = Metric("rows_out", 12.0, "Count", {"table": "orders", "layer": "raw"}, moment)
    second = Metric("duration", 1.5, "Seconds", {}, moment)
    metrics.put([first, second])
    metrics.put([Metric("rows_out", 3.0, dimensions={"table": "customers"}, timestamp=moment)])

    everything = metrics.query()
    assert everything[:2] == [first, second]
    assert [m.value for m in everything] == [12.0, 1.5, 3.0]
    assert everything[2].unit == "Count"
    assert [m.dimensions.get("table") for m in metrics.query("rows_out")] == ["orders", "customers"]
    assert metrics.query("duration") == [second]


def test_rows_carry_the_namespace(metrics: LocalMetrics) -> None:
    metrics.put([Metric("rows_in", 1.0)])
    LocalMetrics(path=metrics.path, namespace="Other").put([Metric("rows_in", 2.0)])

    with sqlite3.connect(metrics.path) as connection:
        rows = connection.execute("select namespace, value from metrics order by rowid").fetchall()
    assert rows == [(NAMESPACE, 1.0), ("Other", 2.0)]


def test_record_materialization_counts_and_duration(metrics: LocalMetrics) -> None:
    metrics.record_materialization(
        dataflow="retail",
        layer="staging",
        table="orders",
        counts={"rows_in": 10, "rows_out": 8, "rows_dropped": 2},
        seconds=0.25,
        checks_seconds=0.05,
    )

    recorded = {m.name: m for m in metrics.query()}
    assert set(recorded) == {"rows_in", "rows_out", "rows_dropped", "duration", "checks_duration"}
    assert {name: m.value for name, m in recorded.items()} == {
        "rows_in": 10.0,
        "rows_out": 8.0,
        "rows_dropped": 2.0,
        "duration": 0.25,
        "checks_duration": 0.05,
    }
    assert recorded["duration"].unit == recorded["checks_duration"].unit == "Seconds"
    assert {recorded[n].unit for n in ("rows_in", "rows_out", "rows_dropped")} == {"Count"}
    for metric in recorded.values():
        assert metric.dimensions == {"dataflow": "retail", "layer": "staging", "table": "orders"}
        assert metric.timestamp.tzinfo is not None


def test_record_check_failure(metrics: LocalMetrics) -> None:
    metrics.record_check_failure(
        dataflow="retail", layer="raw", table="orders", check="not_null_id", severity="ERROR"
    )

    [failure] = metrics.query("check_failures")
    assert (failure.value, failure.unit) == (1.0, "Count")
    assert failure.dimensions == {
        "dataflow": "retail",
        "layer": "raw",
        "table": "orders",
        "check": "not_null_id",
        "severity": "ERROR",
    }


def test_record_run_failure(metrics: LocalMetrics) -> None:
    metrics.record_run_failure(dataflow="retail", job="retail_job")
    metrics.record_run_failure(dataflow="retail", job="retail_job")

    failures = metrics.query("run_failures")
    assert len(failures) == 2
    assert {(m.value, m.unit) for m in failures} == {(1.0, "Count")}
    assert failures[0].dimensions == {"dataflow": "retail", "job": "retail_job"}
    assert metrics.query("check_failures") == []
