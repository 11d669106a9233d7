"""The warehouse IO manager: engine frames <-> partitioned Parquet, registered in the catalogue."""

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.fs as pa_fs
from pydantic import Field

from dataplat_dagster.engines.base import PARTITION, Engine
from dataplat_dagster.errors import failures_sorted
from dataplat_dagster.progress import WindowProgress
from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.blocked_windows import (
    LEFT_OUT,
    note_left_out,
    read_marker,
    write_marker,
)
from dataplat_dagster.resources.catalog import CatalogResource
from dataplat_dagster.resources.storage import (
    PARTITION_DIR,
    S3TableStorage,
    TableStorage,
    WindowProperties,
    WrittenPartition,
)
from dataplat_dagster.resources.window_locks import LocalWindowLocks, S3WindowLocks
from dataplat_dagster.types import declared_type

# AssetIn metadata set by the factories: does the reading asset want windows (with a
# `_partition` column, every window required) or everything there is (an aggregate)?
WINDOWED_READ = "dataplat/windowed_read"
# AssetIn metadata: the reading asset takes Arrow tables as they are (SQL over whole inputs).
ARROW_READ = "dataplat/arrow_read"
# AssetIn metadata: a windowed input with the reader's own windows (not hours of a day)
SAME_WINDOWS = "dataplat/same_windows"


@dataclass(frozen=True)
class WindowedFrame:
    """An output frame with what each window's manifest keeps, unwrapped by the IO manager.

    Carried with the value, not as output metadata: Dagster copies a range run's output
    metadata onto every window's materialization, so a year's per-window dict was written
    365 times into the event log.
    """

    frame: Any
    # window -> ERROR checks it failed (the layers below refuse it)
    failed_checks: dict[str | None, list[str]] = field(default_factory=dict)
    # window -> what was read for it (raw: source rows and files), or a function of the
    # rows written (raw on Spark counts its rejected rows during the write)
    properties: WindowProperties = field(default_factory=dict)
    # window -> why a range run did not build it (an input failed its gate): not written
    left_out: dict[str, str] = field(default_factory=dict)
    # output metadata known only once the frame is written (counts the write observed)
    settled: Callable[[], dict[str, Any]] | None = None
    # output metadata from the rows written (a preview), given `first_rows(n)`: read back
    # from the written files, where a preview of the frame was a Spark job of its own
    preview_written: Callable[[Callable[[int], pa.Table]], dict[str, Any]] | None = None


class ParquetIOManager(dg.ConfigurableIOManager, ABC):
    """Stores each asset as Parquet, one folder per partition, published atomically.

    Subclasses only say where: `LocalParquetIOManager` on disk, the S3 one in a bucket.
    """

    engine: dg.ResourceDependency[Engine]
    catalog: dg.ResourceDependency[CatalogResource]
    lock_timeout_seconds: float = Field(
        900.0, gt=0, description="how long a writer waits for another writer of the same window"
    )

    @abstractmethod
    def storage(self) -> TableStorage:
        """The table storage under this manager's root."""

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        carried = obj if isinstance(obj, WindowedFrame) else WindowedFrame(obj)
        obj = carried.frame
        key_path = list(context.asset_key.path)
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else None
        if keys is not None and carried.left_out:
            self._leave_out(context, key_path, carried.left_out)
            keys = [key for key in keys if key not in carried.left_out]
        description = (
            context.definition_metadata.get("dataplat/description", "")
            if context.definition_metadata
            else ""
        )
        written, arrow_schema = self.write_frame(
            key_path,
            obj,
            keys,
            run_id=context.run_id,
            failed_checks=carried.failed_checks,
            properties=carried.properties,
            description=str(description),
            log=context.log.info,
        )
        schema = dg.TableSchema(
            columns=[
                dg.TableColumn(column.name, declared_type(column.type)) for column in arrow_schema
            ]
        )
        storage = self.storage()
        windows = [w for w in written if w.key is not None]
        # a range run's output metadata is copied onto each window: the schema goes on its
        # first window only (once per table), like the preview
        on_first = len(windows) > 1
        context.add_output_metadata(
            {
                "dagster/row_count": sum(w.rows for w in written),
                "dagster/uri": storage.uri(storage.table_path(key_path)),
                **({} if on_first else {"dagster/column_schema": schema}),
                "partitions_written": len(windows),
                "bytes_written": sum(w.bytes for w in written),
                **self.run_metadata(),
                **(carried.settled() if carried.settled is not None else {}),
                **(
                    carried.preview_written(lambda rows: storage.head(key_path, written, rows))
                    if carried.preview_written is not None
                    else {}
                ),
            }
        )
        for index, window in enumerate(windows):
            # each window's materialization names its own folder and rows
            context.step_context.add_asset_metadata(
                {
                    "dagster/uri": window.window_uri,
                    "dataplat/version_uri": window.location,
                    "dagster/row_count": window.rows,
                    **({"dagster/column_schema": schema} if on_first and index == 0 else {}),
                },
                asset_key=context.asset_key,
                partition_key=window.key,
            )

    def _leave_out(
        self, context: dg.OutputContext, key_path: list[str], left_out: dict[str, str]
    ) -> None:
        """Tell the tables below (the marker) and the UI (each window's metadata)."""
        write_marker(self.storage(), key_path, context.run_id, left_out)
        for window, reason in left_out.items():
            context.step_context.add_asset_metadata(
                {LEFT_OUT: reason},
                asset_key=context.asset_key,
                partition_key=window,
            )

    def run_metadata(self) -> dict[str, Any]:
        """What the engine adds to each output's metadata (the Spark UI link)."""
        return {}

    def write_frame(
        self,
        key_path: list[str],
        frame: Any,
        keys: list[str] | None,
        *,
        run_id: str,
        failed_checks: dict[str | None, list[str]],
        properties: dict[str | None, Any],
        description: str = "",
        log: Callable[[str], None] | None = None,
    ) -> tuple[list[WrittenPartition], pa.Schema]:
        """Write and publish a frame's windows (`keys` None: the unpartitioned table).

        Returns the windows written and the Arrow schema of the data.
        """
        parts = self.window_parts(frame, keys)
        written = self.write_windows(
            key_path,
            parts,
            run_id=run_id,
            failed_checks=failed_checks,
            properties=properties,
            description=description,
            log=log,
        )
        return written, parts[0][1].schema

    def window_parts(self, obj: Any, keys: list[str] | None) -> list[tuple[str | None, pa.Table]]:
        """The frame as Arrow, one table per window (`keys` None: the unpartitioned table)."""
        if keys is not None:
            return list(self.engine.split(obj, keys))
        table = self.engine.to_arrow(obj)
        return [
            (None, table.drop_columns([PARTITION]) if PARTITION in table.column_names else table)
        ]

    def write_windows(
        self,
        key_path: list[str],
        parts: list[tuple[str | None, pa.Table]],
        *,
        run_id: str,
        failed_checks: dict[str | None, list[str]],
        properties: dict[str | None, Any],
        description: str = "",
        log: Callable[[str], None] | None = None,
    ) -> list[WrittenPartition]:
        """Write and publish the windows, then register the table and its served windows.

        Catalogue locations follow the published version folders. A window that failed an
        ERROR check is written with those checks in its manifest, so that the layers below
        refuse it, and is withheld from the catalogue (withdrawn from Glue), where external
        readers would find it.
        """
        storage = self.storage()
        partitioned = parts[0][0] is not None
        progress = WindowProgress(log, "/".join(key_path), len(parts), "written") if log else None
        register = self.registration(storage, key_path, partitioned, failed_checks, description)
        with failures_sorted():
            return storage.write(
                key_path,
                parts,
                write_id=write_id_of(run_id),
                failed_checks=failed_checks,
                properties=properties,
                owner=run_id,
                after_publish=lambda written: register(written, parts[0][1].schema),
                on_staged=progress.advance if progress else None,
            )

    def registration(
        self,
        storage: TableStorage,
        key_path: list[str],
        partitioned: bool,
        failed_checks: dict[str | None, list[str]],
        description: str,
    ) -> Callable[[list[WrittenPartition], pa.Schema], None]:
        """The catalogue registration of a write, called once its windows are published.

        Under the windows' locks, after publishing and before old versions go: the catalogue
        never points at a version that is incomplete or already removed.
        """

        def register(written: list[WrittenPartition], schema: pa.Schema) -> None:
            self.catalog.register_table(
                key_path=key_path,
                schema=schema,
                location=storage.uri(storage.table_path(key_path))
                if partitioned
                else written[0].location,
                partition_key=PARTITION_DIR if partitioned else None,
                description=description,
            )
            if not partitioned:
                return
            served = [(w.key, w.location) for w in written if not failed_checks.get(w.key)]
            withheld = [(w.key, w.location) for w in written if failed_checks.get(w.key)]
            if served:
                self.catalog.register_partitions(key_path=key_path, partitions=served)
            if withheld:
                self.catalog.withhold_partitions(key_path=key_path, partitions=withheld)

        return register

    def read_frame(
        self,
        storage: TableStorage,
        key_path: list[str],
        keys: list[str | None],
        *,
        failed_gates: str,
        windowed: bool,
    ) -> tuple[Any, list[tuple[str | None, int]]]:
        """The windows as the engine's frame (with `_partition` when windowed), rows per window."""
        table, counts = storage.read(key_path, keys, failed_gates=failed_gates)
        if windowed:
            table = _with_partition_column(table, counts)
        return self.engine.from_arrow(table), counts

    def reads_arrow(self) -> bool:
        """Whether inputs marked ARROW_READ are handed over as lazy Arrow datasets."""
        return True

    def load_input(self, context: dg.InputContext) -> Any:
        key_path = list(context.asset_key.path)
        storage = self.storage()
        metadata = context.definition_metadata or {}
        windowed = bool(metadata.get(WINDOWED_READ, False))
        if metadata.get(ARROW_READ) and self.reads_arrow():
            # SQL over the whole table: a lazy dataset, only the columns used
            if not context.has_asset_partitions:
                if storage.manifest(key_path, None) is None:
                    storage.read(key_path, [None])  # raises the clear "not materialized" error
                return storage.dataset(key_path, [None])[0]
            dataset, left_out = storage.dataset(key_path, storage.existing_partitions(key_path))
            if left_out:
                skipped = ", ".join(map(str, left_out))
                context.log.warning(
                    f"{'/'.join(key_path)}: left out windows that failed their quality gate: {skipped}"
                )
            return dataset
        if not context.has_asset_partitions:
            frame, _ = self.read_frame(
                storage, key_path, [None], failed_gates="refuse", windowed=False
            )
            return frame
        keys: list[str | None] = list(context.asset_partition_keys)
        if not windowed:  # an aggregate over a partitioned table reads every window there is
            existing = set(storage.existing_partitions(key_path))
            keys = [key for key in keys if key in existing]
        if windowed and len(keys) > 1 and metadata.get(SAME_WINDOWS):
            # a range run: windows that failed their gate upstream are left out, not refused
            frame, _ = self._read_range(context, storage, key_path, keys)
            return frame
        frame, counts = self.read_frame(
            storage,
            key_path,
            keys,
            failed_gates="refuse" if windowed else "skip",
            windowed=windowed,
        )
        if not windowed and len(counts) < len(keys):
            skipped = sorted(str(key) for key in set(keys) - {key for key, _ in counts})
            context.log.warning(
                f"{'/'.join(key_path)}: left out windows that failed their quality gate: {', '.join(skipped)}"
            )
        return frame

    def _read_range(
        self,
        context: dg.InputContext,
        storage: TableStorage,
        key_path: list[str],
        keys: list[str | None],
    ) -> tuple[Any, list[tuple[str | None, int]]]:
        """Read a range run's windows of an input, leaving out those its gate closed for.

        Left out: windows whose published version failed an ERROR check, and windows this run
        left out of the input itself. The step's body learns them through `take_left_out`.
        """
        name = "/".join(key_path)
        left_out = {
            window: reason
            for window, reason in read_marker(
                storage, key_path, context.step_context.run_id
            ).items()
            if window in keys
        }
        wanted = [key for key in keys if key not in left_out]
        frame, counts = self.read_frame(
            storage, key_path, wanted, failed_gates="skip", windowed=True
        )
        read = {key for key, _ in counts}
        for window in wanted:
            if window not in read:
                manifest = storage.manifest(key_path, window)
                checks = ", ".join(manifest.failed_checks) if manifest else "its checks"
                left_out[window] = f"{name} failed its quality gate ({checks})"
        note_left_out(context.step_context.run_id, context.op_def.name, left_out)
        return frame, counts


def write_id_of(run_id: str) -> str:
    """A write's id: its run's, made unique (a run may write a table twice)."""
    return f"{run_id[:8]}-{uuid.uuid4().hex[:8]}"


def _with_partition_column(table: pa.Table, counts: list[tuple[str | None, int]]) -> pa.Table:
    keys = [str(key) for key, _ in counts]
    indices = np.repeat(np.arange(len(keys), dtype=np.int32), [rows for _, rows in counts])
    column = pa.DictionaryArray.from_arrays(
        pa.array(indices, pa.int32()), pa.array(keys, pa.string())
    )
    return table.append_column(PARTITION, column)


class LocalParquetIOManager(ParquetIOManager):
    """Parquet under a local folder; window locks are files under `<root>/_locks/`."""

    root: str = Field(description="warehouse folder")

    def storage(self) -> TableStorage:
        base = Path(self.root).resolve()
        base.mkdir(parents=True, exist_ok=True)
        locks = LocalWindowLocks(base, timeout=self.lock_timeout_seconds)
        return TableStorage(
            pa_fs.LocalFileSystem(), base.as_posix(), "file://", atomic_rename=True, locks=locks
        )


class S3ParquetIOManager(ParquetIOManager):
    """Parquet under `s3://<bucket>/<prefix>/`, through s3fs; manifests make writes atomic."""

    bucket: str = Field(description="S3 bucket of the warehouse")
    prefix: str = Field("warehouse", description="key prefix of the warehouse")
    aws: dg.ResourceDependency[AwsResource]

    lock_ttl_seconds: float = Field(
        600.0,
        gt=0,
        description="a window lock whose writer stopped renewing it is taken over after this",
    )

    def storage(self) -> TableStorage:
        filesystem = pa_fs.PyFileSystem(pa_fs.FSSpecHandler(self.aws.s3fs()))
        base = f"{self.bucket}/{self.prefix.strip('/')}".rstrip("/")
        client = self.aws.client("s3")
        locks = S3WindowLocks(
            client,
            self.bucket,
            self.prefix,
            timeout=self.lock_timeout_seconds,
            ttl=self.lock_ttl_seconds,
        )
        return S3TableStorage(filesystem, base, client=client, locks=locks)
