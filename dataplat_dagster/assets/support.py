"""Pieces every layer factory shares: keys, inputs, metadata, run bookkeeping."""

import inspect
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pyarrow as pa

from dataplat_dagster import run_health
from dataplat_dagster.config.plan import Plan, TableId, TablePlan
from dataplat_dagster.engines.base import PARTITION, Engine
from dataplat_dagster.errors import failures_sorted
from dataplat_dagster.partitions import build_partitions_def, ensure_eligible
from dataplat_dagster.pools import writer_pool
from dataplat_dagster.resources.io_managers import ARROW_READ, SAME_WINDOWS, WINDOWED_READ
from dataplat_dagster.resources.metrics import MetricsResource
from dataplat_dagster.types import declared_type


@dataclass(frozen=True)
class AssetOptions:
    """Settings of the profile every asset factory needs."""

    ui_base_url: str | None = None  # links to runs in notices
    checks_per_window_up_to: int = 7  # larger range runs report one check evaluation for the range


QUARANTINE = "quarantine"
PREVIEW_ROWS = 5
ENGINE_KINDS = frozenset({"pandas", "spark"})


def engine_of(plan: TablePlan) -> str:
    """The engine building the table (landing sources have none: files are read by raw)."""
    return getattr(plan.spec, "engine", "pandas")


def engine_key(plan: TablePlan) -> str:
    """The resource key of the table's engine: `engine` (Pandas) or `spark_engine`."""
    return "spark_engine" if engine_of(plan) == "spark" else "engine"


def io_manager_key(plan: TablePlan) -> str:
    """The warehouse IO manager of the table's engine; it also reads the table's inputs.

    The reader's engine decides how an input is read, whichever engine wrote it: a Spark
    table reads a Pandas-built input with Spark, and the other way round.
    """
    return "spark_io_manager" if engine_of(plan) == "spark" else "io_manager"


def asset_key(table_id: TableId) -> dg.AssetKey:
    return dg.AssetKey(table_id.key_path)


def partitions_def(plan: TablePlan) -> dg.TimeWindowPartitionsDefinition | None:
    return build_partitions_def(plan.partitioning) if plan.partitioning else None


def input_name(table_id: TableId, inputs: Sequence[TableId]) -> str:
    """Keyword name of an input: the table name, or layer_table when two inputs share it."""
    clash = sum(1 for other in inputs if other.name == table_id.name) > 1
    return f"{table_id.layer}_{table_id.name}" if clash else table_id.name


def build_ins(plan: TablePlan, tables: Plan) -> dict[str, dg.AssetIn]:
    """Inputs of the body and of the rules; windowed ones read the run's windows only."""
    ins = {}
    for upstream in plan.all_inputs:
        if upstream.layer == "landing":
            continue  # files are read by the raw asset itself
        both = plan.partitioned and tables[upstream].partitioned
        windowed = both and upstream not in plan.whole_inputs
        mapping = (
            dg.TimeWindowPartitionMapping()
            if windowed
            else (dg.AllPartitionMapping() if both else None)
        )
        ins[input_name(upstream, plan.all_inputs)] = dg.AssetIn(
            key=asset_key(upstream),
            metadata={
                WINDOWED_READ: windowed,
                ARROW_READ: reads_arrow(plan),
                # the same windows as the reader's: a range run leaves failed ones out
                SAME_WINDOWS: windowed and tables[upstream].partitioning == plan.partitioning,
            },
            partition_mapping=mapping,
            input_manager_key=io_manager_key(plan),
        )
    return ins


def reads_arrow(plan: TablePlan) -> bool:
    """A SQL table over whole inputs hands them to DuckDB as Arrow: no pandas copy to make.

    (With steps, rules reading its inputs, or windows to slice, the inputs are engine frames.)
    """
    spec = plan.spec
    if engine_of(plan) == "spark":
        return False  # Spark SQL reads DataFrames
    rules_read_inputs = any(
        rule.kind in ("count_audit", "referential") for rule in getattr(spec, "rules", [])
    )
    return (
        getattr(spec, "body", None) == "sql"
        and not spec.steps
        and not plan.partitioned
        and not rules_read_inputs
    )


def common_asset_args(plan: TablePlan, kinds: set[str], job: str) -> dict[str, Any]:
    """Arguments every generated asset gets, from its declaration.

    `tag:job=<job>` selects the tables of one job: one partitioning, as Dagster needs.
    """
    spec = plan.spec
    return {
        "group_name": plan.layer,
        "description": plan.description,
        "owners": list(spec.owners),
        "tags": {"layer": plan.layer, "dataflow": plan.id.dataflow, **spec.tags, "job": job},
        "kinds": kinds,
        "io_manager_key": io_manager_key(plan),
    }


def fixed_signature(function: Callable[..., Any]) -> Callable[..., Any]:
    """Give an asset function its signature once, for the asset decorator below it.

    Dagster inspects an asset function's signature about 17 times while building the asset:
    a sixth of the load of a code location with 100 dataflows. `inspect.signature` returns a
    function's `__signature__` when it has one.
    """
    function.__signature__ = inspect.signature(function)  # type: ignore[attr-defined]
    return function


def run_keys(context: dg.AssetExecutionContext, plan: TablePlan) -> list[str | None]:
    """The windows this run writes (several for a range backfill), or [None] when unpartitioned.

    Raises:
        WindowNotEligible: a window is still open or within its stability lag.
    """
    if not plan.partitioned:
        return [None]
    keys = list(context.partition_keys)
    assert plan.partitioning is not None
    ensure_eligible(plan.partitioning, keys)
    return keys


def preview(engine: Engine, frame: Any) -> dg.MetadataValue:
    """The first rows as a table in the UI: the data's own columns first, lineage after."""
    head = engine.head(frame, PREVIEW_ROWS)
    return preview_table(head)


def preview_table(table: pa.Table) -> dg.MetadataValue:
    names = [c for c in table.column_names if c != PARTITION]
    ordered = [c for c in names if not c.startswith("_")] + [c for c in names if c.startswith("_")]
    table = table.select(ordered)
    columns = [
        dg.TableColumn(name, declared_type(table.schema.field(name).type)) for name in ordered
    ]
    records = [
        dg.TableRecord({name: _cell(row[name]) for name in ordered}) for row in table.to_pylist()
    ]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))


def _cell(value: Any) -> str | int | float | bool | None:
    """A value a TableRecord can hold: numbers and booleans as they are, the rest as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value[:200] if isinstance(value, str) else value
    return str(value)[:200]


@dataclass
class Counts:
    """Row bookkeeping of one materialization (metadata and metrics share it)."""

    rows_in: int = 0
    rows_in_by_input: dict[str, int] = field(default_factory=dict)  # rows read from each input
    rows_out: int = 0
    rows_dropped: int = 0
    rows_quarantined: int = 0
    dropped_by_step: dict[str, int] = field(default_factory=dict)
    checks_seconds: float | None = None  # time spent evaluating the quality rules

    def as_metrics(self) -> dict[str, int]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rows_dropped": self.rows_dropped,
            "rows_quarantined": self.rows_quarantined,
        }

    def as_metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = dict(self.as_metrics())
        if self.rows_in_by_input:
            metadata["rows_in_by_input"] = dg.MetadataValue.json(self.rows_in_by_input)
        if self.dropped_by_step:
            metadata["rows_dropped_by_step"] = dg.MetadataValue.json(self.dropped_by_step)
        if self.checks_seconds is not None:
            metadata["checks_seconds"] = round(self.checks_seconds, 4)
        return metadata


@contextmanager
def recorded(
    context: dg.AssetExecutionContext, plan: TablePlan, metrics: MetricsResource, counts: Counts
) -> Iterator[None]:
    """Time the body, record its counts as metrics once it succeeded, and sort its failures.

    A transient failure (I/O, network, AWS throttling) propagates as is, so the table's
    RetryPolicy retries it; anything else (bad input, a failed rule, a bug in a transform)
    becomes a `dg.Failure` that is not retried, with a message naming the table.
    """
    run_health.refuse_step_when_stopping(str(plan.id))
    started = time.monotonic()
    with failures_sorted(plan.id):
        yield
    metrics.record_materialization(
        dataflow=plan.id.dataflow,
        layer=plan.layer,
        table=plan.id.name,
        counts=counts.as_metrics(),
        seconds=time.monotonic() - started,
        checks_seconds=counts.checks_seconds,
    )


def retry_policy(plan: TablePlan) -> dg.RetryPolicy | None:
    spec = getattr(plan.spec, "retry", None)
    if spec is None or spec.max_retries == 0:
        return None
    return dg.RetryPolicy(
        max_retries=spec.max_retries,
        delay=spec.delay.total_seconds(),
        backoff={"exponential": dg.Backoff.EXPONENTIAL, "linear": dg.Backoff.LINEAR, "none": None}[
            spec.backoff
        ],
        jitter={"full": dg.Jitter.FULL, "plus_minus": dg.Jitter.PLUS_MINUS, "none": None}[
            spec.jitter
        ],
    )


def backfill_policy(plan: TablePlan) -> dg.BackfillPolicy:
    """One run for a range, or runs of at most `backfill.max_windows_per_run` windows.

    A Spark table always takes the whole range in one run: one Spark job reads, computes
    and writes every window, never one job per window.
    """
    size = plan.dataflow.spec.backfill.max_windows_per_run
    if engine_of(plan) == "spark":
        return dg.BackfillPolicy.single_run()
    return (
        dg.BackfillPolicy.multi_run(size)
        if size and plan.partitioned
        else dg.BackfillPolicy.single_run()
    )


def operations(plan: TablePlan) -> dict[str, Any]:
    """Keyword arguments of every built asset: backfills, retries, the writer pool."""
    return {
        "backfill_policy": backfill_policy(plan),
        "retry_policy": retry_policy(plan),
        "pool": writer_pool(plan.id.dataflow),  # one writer per dataflow (pools.py)
    }
