"""Operational metrics: rows in/out/dropped/quarantined, durations, check failures.

`MetricsResource` is the interface; `LocalMetrics` appends to a SQLite file, the
CloudWatch implementation calls `put_metric_data`. Both receive the same `Metric`s.
"""

import json
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from pydantic import Field

from dataplat_dagster.failure_summary import sqlite_file_problem
from dataplat_dagster.resources.aws import AwsResource

NAMESPACE = "DataPlat"


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    unit: str = "Count"
    dimensions: dict[str, str] = field(default_factory=dict)
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))


class MetricsResource(dg.ConfigurableResource, ABC):
    """Where the platform's operational metrics go."""

    namespace: str = NAMESPACE

    @abstractmethod
    def put(self, metrics: list[Metric]) -> None:
        """Record metrics (implementations batch as their backend requires)."""

    def record_materialization(
        self,
        *,
        dataflow: str,
        layer: str,
        table: str,
        counts: dict[str, int],
        seconds: float,
        checks_seconds: float | None = None,
    ) -> None:
        """One materialization's row counts and durations, dimensioned by dataflow, layer, table."""
        dimensions = {"dataflow": dataflow, "layer": layer, "table": table}
        metrics = [
            Metric(name, float(value), "Count", dimensions) for name, value in counts.items()
        ]
        metrics.append(Metric("duration", seconds, "Seconds", dimensions))
        if checks_seconds is not None:
            metrics.append(Metric("checks_duration", checks_seconds, "Seconds", dimensions))
        self.put(metrics)

    def record_check_failure(
        self, *, dataflow: str, layer: str, table: str, check: str, severity: str
    ) -> None:
        dimensions = {
            "dataflow": dataflow,
            "layer": layer,
            "table": table,
            "check": check,
            "severity": severity,
        }
        self.put([Metric("check_failures", 1.0, "Count", dimensions)])

    def record_run_failure(self, *, dataflow: str, job: str) -> None:
        self.put([Metric("run_failures", 1.0, "Count", {"dataflow": dataflow, "job": job})])


class LocalMetrics(MetricsResource):
    """Metrics in a local SQLite file (table `metrics`), readable with any SQLite client."""

    path: str = Field(description="SQLite file of the metrics")

    def _connect(self) -> sqlite3.Connection:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=30)
        with _named(self.path):
            connection.execute(
                "create table if not exists metrics (timestamp text, namespace text, name text, value real, unit text, dimensions text)"
            )
        return connection

    def put(self, metrics: list[Metric]) -> None:
        rows = [
            (
                m.timestamp.isoformat(),
                self.namespace,
                m.name,
                m.value,
                m.unit,
                json.dumps(m.dimensions, sort_keys=True),
            )
            for m in metrics
        ]
        with _named(self.path), self._connect() as connection:
            connection.executemany("insert into metrics values (?, ?, ?, ?, ?, ?)", rows)
        connection.close()

    def query(self, name: str | None = None) -> list[Metric]:
        """The recorded metrics, oldest first (for the CLI and tests)."""
        sql = "select timestamp, name, value, unit, dimensions from metrics"
        args: tuple[str, ...] = ()
        if name:
            sql, args = sql + " where name = ?", (name,)
        with self._connect() as connection:
            rows = connection.execute(sql + " order by rowid", args).fetchall()
        connection.close()
        return [Metric(n, v, u, json.loads(d), datetime.fromisoformat(t)) for t, n, v, u, d in rows]


@contextmanager
def _named(path: str) -> Iterator[None]:
    """A corrupt or full metrics.db fails once, naming the file (a locked one is retried)."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        problem = sqlite_file_problem(path, "metrics database", exc)
        if problem is None:
            raise
        raise problem from exc


class CloudWatchMetrics(MetricsResource):
    """Metrics to CloudWatch with `put_metric_data`, batched within the API's limits."""

    aws: dg.ResourceDependency[AwsResource]
    batch_size: int = Field(
        1000, ge=1, le=1000, description="metrics per request (the API takes 1000)"
    )

    def put(self, metrics: list[Metric]) -> None:
        client = self.aws.client("cloudwatch")
        data = [
            {
                "MetricName": m.name,
                "Dimensions": [
                    {"Name": k, "Value": str(v)} for k, v in sorted(m.dimensions.items())
                ],
                "Timestamp": m.timestamp,
                "Value": m.value,
                "Unit": m.unit,
            }
            for m in metrics
        ]
        for start in range(0, len(data), self.batch_size):
            client.put_metric_data(
                Namespace=self.namespace, MetricData=data[start : start + self.batch_size]
            )
