"""Partitioned Parquet tables on any filesystem, published atomically through manifests.

Layout: `<root>/<layer>/<dataflow>/<table>/dt=<partition>/part-<write id>.parquet`, plus
`_manifest.json` in the same folder naming the files of the current version. A writer puts
the data files first and the manifest last; readers only read what a manifest names. A
crash mid-write therefore leaves the previous version visible and intact, on a local disk
(where the manifest is renamed into place) as on S3 (where a PUT is atomic but there is no
rename). Leftover files of a crashed write are removed by the next successful write.
Each partition is atomic; a write of several windows publishes them one after another,
after all of their data files are written.
"""

import base64
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import dagster as dg
import pyarrow as pa
import pyarrow.dataset as pa_ds
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq

MANIFEST = "_manifest.json"
PARTITION_DIR = "dt"


class _PermanentError(dg.Failure):
    """An error that retrying cannot fix: the step fails at once (RetryPolicy skips it)."""

    def __init__(self, description: str) -> None:
        super().__init__(description=description, allow_retries=False)


class MissingPartitionError(_PermanentError):
    """A partition was read before it was ever written."""


class StorageWriteError(OSError):
    """A data file could not be written (after the filesystem's own retries)."""


class FailedGateError(_PermanentError):
    """A partition whose ERROR checks failed was read by a layer below (its gate is closed)."""


@dataclass(frozen=True)
class Manifest:
    files: list[str]
    rows: int
    schema: pa.Schema
    written_at: str
    write_id: str
    failed_checks: tuple[
        str, ...
    ] = ()  # ERROR checks this version failed: it must not feed layers below
    properties: dict = field(
        default_factory=dict
    )  # what the writer knew of the window (source rows, files)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "version": 1,
                "files": self.files,
                "rows": self.rows,
                "schema": base64.b64encode(self.schema.serialize().to_pybytes()).decode(),
                "written_at": self.written_at,
                "write_id": self.write_id,
                "failed_checks": list(self.failed_checks),
                "properties": self.properties,
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Manifest":
        raw = json.loads(data)
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(raw["schema"])))
        return cls(
            raw["files"],
            raw["rows"],
            schema,
            raw["written_at"],
            raw["write_id"],
            tuple(raw.get("failed_checks", ())),
            raw.get("properties", {}),
        )


@dataclass(frozen=True)
class WrittenPartition:
    key: str | None
    location: str
    rows: int
    bytes: int


class TableStorage:
    """Read and write partitioned tables under one root of a pyarrow filesystem.

    Args:
        filesystem: where the data lives (local disk, S3, ...).
        base: the root path inside `filesystem` (no scheme).
        uri_prefix: what to put before a path to make a URI users can open (`file://`, `s3://`).
        atomic_rename: the filesystem renames atomically (local disks); without it the manifest
            is written in one PUT, which object stores make atomic.
    """

    def __init__(
        self, filesystem: pa_fs.FileSystem, base: str, uri_prefix: str, *, atomic_rename: bool
    ) -> None:
        self.fs = filesystem
        self.base = base.rstrip("/")
        self.uri_prefix = uri_prefix
        self.atomic_rename = atomic_rename

    # -- paths ---------------------------------------------------------------------------
    def table_path(self, key_path: Sequence[str]) -> str:
        return "/".join([self.base, *key_path])

    def partition_path(self, key_path: Sequence[str], partition: str | None) -> str:
        table = self.table_path(key_path)
        return (
            table
            if partition is None
            else f"{table}/{PARTITION_DIR}={quote(partition, safe='-_.')}"
        )

    def uri(self, path: str) -> str:
        return f"{self.uri_prefix}{path}"

    # -- writing -------------------------------------------------------------------------
    def write(
        self,
        key_path: Sequence[str],
        partitions: Iterable[tuple[str | None, pa.Table]],
        *,
        write_id: str | None = None,
        failed_checks: dict[str | None, list[str]] | None = None,
        properties: dict[str | None, dict] | None = None,
    ) -> list[WrittenPartition]:
        """Write each partition's data, then publish every manifest, then clean old files.

        Publishing happens only once all data files of the call are written, so a failure
        part-way leaves every partition at its previous version.
        """
        write_id = write_id or f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        staged: list[tuple[str | None, str, Manifest, int]] = []
        for partition, table in partitions:
            folder = self.partition_path(key_path, partition)
            file_name = f"part-{write_id}.parquet"
            try:
                self.fs.create_dir(folder, recursive=True)
                if table.num_rows:
                    with self.fs.open_output_stream(f"{folder}/{file_name}") as sink:
                        pq.write_table(table, sink, compression="snappy")
                        size = sink.tell()
                else:  # an empty window is its manifest alone: the schema, no data file
                    file_name, size = "", 0
            except OSError as exc:
                window = f" window {partition}" if partition is not None else ""
                raise StorageWriteError(
                    f"writing {'/'.join(key_path)}{window} to {self.uri(folder)} failed: {exc}. "
                    "Nothing of this write was published; every window keeps its previous version."
                ) from exc
            manifest = Manifest(
                [file_name] if file_name else [],
                table.num_rows,
                table.schema,
                datetime.now(UTC).isoformat(),
                write_id,
                tuple((failed_checks or {}).get(partition, ())),
                (properties or {}).get(partition, {}),
            )
            staged.append((partition, folder, manifest, size))
        for _, folder, manifest, _ in staged:
            self._put_atomic(f"{folder}/{MANIFEST}", manifest.to_json())
            self._remove_stale(folder, keep=set(manifest.files))
        return [
            WrittenPartition(p, self.uri(folder), m.rows, size) for p, folder, m, size in staged
        ]

    def record(
        self,
        key_path: Sequence[str],
        partition: str | None,
        *,
        rows: int,
        schema: pa.Schema,
        properties: dict,
    ) -> None:
        """Publish a manifest that names no data file, for a window whose data went elsewhere.

        Outputs (exports, SQL tables) record their windows so that what was built can be told
        from the warehouse alone.
        """
        folder = self.partition_path(key_path, partition)
        self.fs.create_dir(folder, recursive=True)
        manifest = Manifest(
            [],
            rows,
            schema,
            datetime.now(UTC).isoformat(),
            f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
            (),
            properties,
        )
        self._put_atomic(f"{folder}/{MANIFEST}", manifest.to_json())

    def _put_atomic(self, path: str, data: bytes) -> None:
        if not self.atomic_rename:
            with self.fs.open_output_stream(path) as sink:  # one PUT: all or nothing
                sink.write(data)
            return
        temporary = f"{path}.{uuid.uuid4().hex}.tmp"
        with self.fs.open_output_stream(temporary) as sink:
            sink.write(data)
        self.fs.move(temporary, path)

    def _remove_stale(self, folder: str, *, keep: set[str]) -> None:
        # every data file the new manifest does not name goes, crashed writes' leftovers included
        selector = pa_fs.FileSelector(folder, allow_not_found=True)
        for info in self.fs.get_file_info(selector):
            name = info.base_name
            if info.type == pa_fs.FileType.File and name.startswith("part-") and name not in keep:
                self.fs.delete_file(info.path)

    # -- reading -------------------------------------------------------------------------
    def _read_manifest(self, folder: str) -> Manifest | None:
        try:
            with self.fs.open_input_stream(f"{folder}/{MANIFEST}") as source:
                return Manifest.from_json(source.read())
        except FileNotFoundError:
            return None
        except OSError as exc:  # pyarrow's S3 filesystem reports a missing key as OSError
            if (
                "does not exist" in str(exc)
                or "NoSuchKey" in str(exc)
                or "Path does not exist" in str(exc)
            ):
                return None
            raise

    def manifest(self, key_path: Sequence[str], partition: str | None) -> Manifest | None:
        return self._read_manifest(self.partition_path(key_path, partition))

    def existing_partitions(self, key_path: Sequence[str]) -> list[str]:
        """Partition keys that have a published manifest."""
        selector = pa_fs.FileSelector(self.table_path(key_path), allow_not_found=True)
        prefix = f"{PARTITION_DIR}="
        keys = []
        for info in self.fs.get_file_info(selector):
            if info.type == pa_fs.FileType.Directory and info.base_name.startswith(prefix):
                key = unquote(info.base_name[len(prefix) :])
                if self._read_manifest(info.path) is not None:
                    keys.append(key)
        return sorted(keys)

    def dataset(
        self, key_path: Sequence[str], partitions: Sequence[str | None]
    ) -> tuple[pa_ds.Dataset, list[str | None]]:
        """The published files of `partitions` as a lazy dataset, and the windows left out.

        A SQL engine scanning the dataset reads only the columns and row groups it needs.
        Windows never written or whose gate failed are left out (and returned).
        """
        files, schemas, left_out = [], [], []
        for partition in partitions:
            manifest = self._read_manifest(self.partition_path(key_path, partition))
            if manifest is None or manifest.failed_checks:
                left_out.append(partition)
                continue
            folder = self.partition_path(key_path, partition)
            files += [f"{folder}/{name}" for name in manifest.files]
            schemas.append(manifest.schema)
        schema = (
            pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema([])
        )
        return pa_ds.dataset(files, schema=schema, format="parquet", filesystem=self.fs), left_out

    def read(
        self,
        key_path: Sequence[str],
        partitions: Sequence[str | None],
        *,
        missing_ok: bool = False,
        failed_gates: str = "read",
    ) -> tuple[pa.Table, list[tuple[str | None, int]]]:
        """Read partitions into one table.

        Args:
            key_path: the table.
            partitions: the windows (None for an unpartitioned table).
            missing_ok: skip windows never written instead of raising.
            failed_gates: a window whose ERROR checks failed is `read` anyway, `skip`ped, or
                `refuse`d (raises FailedGateError): layers below refuse, aggregates skip.

        Returns:
            The rows, in partition order, and `(partition, row count)` for each partition read.

        Raises:
            MissingPartitionError: a partition has no manifest and `missing_ok` is false.
            FailedGateError: a partition failed its gate and `failed_gates` is `refuse`.
        """
        files: list[str] = []
        counts: list[tuple[str | None, int]] = []
        schemas: list[pa.Schema] = []
        for partition in partitions:
            folder = self.partition_path(key_path, partition)
            manifest = self._read_manifest(folder)
            if manifest is None:
                if missing_ok:
                    continue
                name = "/".join(key_path)
                what = f"partition {partition} of {name}" if partition is not None else name
                raise MissingPartitionError(
                    f"{what} has not been materialized yet (no manifest in {self.uri(folder)})"
                )
            if manifest.failed_checks and failed_gates != "read":
                if failed_gates == "skip":
                    continue
                what = "/".join(key_path) + (
                    f" window {partition}" if partition is not None else ""
                )
                raise FailedGateError(
                    f"{what} failed its quality gate ({', '.join(manifest.failed_checks)} with ERROR severity); "
                    "the layers below are not built from it. Fix the data and re-run that window."
                )
            files += [f"{folder}/{name}" for name in manifest.files]
            counts.append((partition, manifest.rows))
            schemas.append(manifest.schema)
        if not schemas:
            return pa.table({}), counts
        schema = (
            schemas[0]
            if all(s.equals(schemas[0]) for s in schemas)
            else pa.unify_schemas(schemas, promote_options="permissive")
        )
        if not files:  # every window read is empty
            return schema.empty_table(), counts
        dataset = pa_ds.dataset(files, schema=schema, format="parquet", filesystem=self.fs)
        return dataset.to_table(use_threads=True), counts
