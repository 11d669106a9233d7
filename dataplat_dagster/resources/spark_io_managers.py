"""The warehouse IO manager for Spark tables: the same store and protocol, Spark frames.

A Spark table's outputs are written by Spark itself and its inputs read by Spark itself
(engines/spark_io.py), whichever engine wrote them; manifests, window locks, versions and
the catalogue are the Pandas IO manager's own (io_managers.py). Assets choose it by key:
`spark_io_manager` for their outputs and as the input manager of their inputs.
"""

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from dataplat_dagster.engines.spark_io import read_windows, write_windows
from dataplat_dagster.engines.spark_session import spark_ui_url
from dataplat_dagster.resources.io_managers import (
    LocalParquetIOManager,
    S3ParquetIOManager,
    failures_sorted,
    write_id_of,
)
from dataplat_dagster.resources.storage import TableStorage, WrittenPartition

SPARK_UI = "dataplat/spark_ui"


class SparkFrames:
    """Reads and writes of a ParquetIOManager done by Spark (its `engine` is the SparkEngine).

    Mixed in before a ParquetIOManager, whose `engine`, `storage()` and `registration()` it
    uses (no annotations here: they would become pydantic fields of the resource).
    """

    def reads_arrow(self) -> bool:
        return False  # SQL on Spark reads DataFrames

    def run_metadata(self) -> dict[str, Any]:
        url = spark_ui_url(self.engine.session())
        return {SPARK_UI: url} if url else {}

    def read_frame(
        self,
        storage: TableStorage,
        key_path: list[str],
        keys: list[str | None],
        *,
        failed_gates: str,
        windowed: bool,
    ) -> tuple[Any, list[tuple[str | None, int]]]:
        return read_windows(
            self.engine.session(),
            storage,
            key_path,
            keys,
            windowed=windowed,
            failed_gates=failed_gates,
        )

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
        storage = self.storage()
        register = self.registration(
            storage, key_path, keys is not None, failed_checks, description
        )
        if log is not None and keys is not None and len(keys) > 1:
            log(f"{'/'.join(key_path)}: {len(keys)} windows written by one Spark job")
        with failures_sorted():
            return write_windows(
                storage,
                key_path,
                self.engine.as_frame(frame),  # raw hands over Arrow
                keys,
                write_id=write_id_of(run_id),
                owner=run_id,
                failed_checks=failed_checks,
                properties=properties,
                after_publish=register,
            )


class LocalSparkParquetIOManager(SparkFrames, LocalParquetIOManager):
    """Spark tables in the local warehouse folder."""


class S3SparkParquetIOManager(SparkFrames, S3ParquetIOManager):
    """Spark tables in the S3 warehouse, read and written through `s3a://` (hadoop-aws)."""


# the Pandas IO manager type of a profile -> its Spark twin over the same warehouse
SPARK_TWINS: dict[str, type] = {
    "local_parquet": LocalSparkParquetIOManager,
    "s3_parquet": S3SparkParquetIOManager,
}
