"""Partitioned Parquet tables on any filesystem, published atomically through manifests.

Layout: `<root>/<layer>/<dataflow>/<table>/dt=<window>/v=<write id>/part-<write id>.parquet`,
and `dt=<window>/_manifest.json` naming the current version folder and its files (an
unpartitioned table has `v=<write id>/` and `_manifest.json` in the table's folder). A write
puts its data under a version folder of its own, then publishes the manifest last: renamed
into place on a local disk, one PUT on S3. Readers, and the catalogue (Glue partitions point
at the version folder), only ever see a complete, published version; a crash mid-write
leaves the previous version visible and intact. Manifests of the former layout, naming files
in `dt=<window>/` itself, are still read.

Each window has one writer at a time (window_locks.py): the lock is held around write,
publish, catalogue registration and cleanup. Cleanup runs after publishing and removes
every version folder but the current one and the one it replaced (readers that opened the
previous manifest a moment ago can finish), crashed writes' leftovers included.

Reading a manifest tells a definite "not found" (never written) from every other error: an
unreachable store or a throttled request raises `StorageReadError` (transient, retried), a
refused one `StorageAccessDenied` (permanent), an unreadable manifest `InvalidManifestError`.
"""

import base64
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import dagster as dg
import pyarrow as pa
import pyarrow.dataset as pa_ds
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq

from dataplat_dagster.resources.threads import each
from dataplat_dagster.resources.window_locks import LocalWindowLocks, WindowLocks

MANIFEST = "_manifest.json"
# window -> what its manifest keeps beside the data (raw: source rows and files), or, on
# Spark, a function of the rows written per window giving it once the write job ran
WindowProperties = dict[str | None, Any] | Callable[[dict[str | None, int]], dict[str | None, Any]]
PARTITION_DIR = "dt"
VERSION_DIR = "v"


class _PermanentError(dg.Failure):
    """An error that retrying cannot fix: the step fails at once (RetryPolicy skips it)."""

    def __init__(self, description: str) -> None:
        super().__init__(description=description, allow_retries=False)


class MissingPartitionError(_PermanentError):
    """A partition was read before it was ever written."""


class StorageWriteError(OSError):
    """A data file or manifest could not be written (after the filesystem's own retries).

    Raised `from` the original error, so its errno (ENOSPC, EACCES, EROFS) stays in the chain.
    """


class StorageReadError(OSError):
    """The store could not say whether a manifest exists (unreachable, throttled, 5xx): retried."""


class StorageAccessDenied(_PermanentError):
    """The store refused a request (403): retrying will not help until permissions change."""


class InvalidManifestError(_PermanentError):
    """A manifest exists but cannot be read (truncated, corrupt, not a manifest)."""


class FailedGateError(_PermanentError):
    """A partition whose ERROR checks failed was read by a layer below (its gate is closed)."""


def describe(key_path: Sequence[str], partition: str | None) -> str:
    """`layer/dataflow/table window W`: how messages name a table window."""
    return "/".join(key_path) + (f" window {partition}" if partition is not None else "")


@dataclass(frozen=True)
class Manifest:
    files: list[str]  # relative to the window's folder (`v=<id>/part-<id>.parquet`)
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
    version_folder: str = ""  # `v=<write id>`; empty in manifests of the former layout
    # text columns holding one value in every row of the window (from the files' Parquet
    # statistics, where the Spark writer found them): a Spark read need not read them
    constants: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "version": 2,
                "version_folder": self.version_folder,
                "files": self.files,
                "rows": self.rows,
                "schema": base64.b64encode(self.schema.serialize().to_pybytes()).decode(),
                "written_at": self.written_at,
                "write_id": self.write_id,
                "failed_checks": list(self.failed_checks),
                "properties": self.properties,
                "constants": self.constants,
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Manifest":
        raw = json.loads(data)
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(raw["schema"], validate=True)))
        files = raw["files"]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise ValueError("`files` is not a list of file names")
        return cls(
            files,
            int(raw["rows"]),
            schema,
            raw["written_at"],
            raw["write_id"],
            tuple(raw.get("failed_checks", ())),
            raw.get("properties", {}),
            raw.get("version_folder", ""),
            raw.get("constants", {}),
        )


# the replaced manifest could not be read: cleanup keeps every version, as any may be in use
_UNREADABLE = Manifest([], 0, pa.schema([]), "", "unreadable")


SMALL_WINDOW_ROWS = 100_000


def _parquet_options(table: pa.Table) -> dict[str, Any]:
    """A small window's text columns dictionary-encoded, its numbers plain.

    Trying a dictionary on every numeric column is a third of a small file's encoding time
    and rarely makes it smaller; large windows keep pyarrow's defaults.
    """
    if table.num_rows >= SMALL_WINDOW_ROWS:
        return {}
    texts = (pa.types.is_string, pa.types.is_large_string, pa.types.is_dictionary)
    return {"use_dictionary": [f.name for f in table.schema if any(t(f.type) for t in texts)]}


@dataclass(frozen=True)
class RecordedWindow:
    """A window whose data went elsewhere (an output), for `TableStorage.record_many`."""

    partition: str | None
    rows: int
    schema: pa.Schema
    properties: dict


# a window whose data is written, not yet published: (window, manifest, bytes, replaced)
StagedWindow = tuple[str | None, Manifest, int, Manifest | None]


@dataclass(frozen=True)
class WrittenPartition:
    key: str | None
    location: str  # the published version folder: what the catalogue points at
    rows: int
    bytes: int
    window_uri: str = ""  # the window's folder, which holds its manifest (stable across writes)


class TableStorage:
    """Read and write partitioned tables under one root of a pyarrow filesystem.

    Args:
        filesystem: where the data lives (local disk, S3, ...).
        base: the root path inside `filesystem` (no scheme).
        uri_prefix: what to put before a path to make a URI users can open (`file://`, `s3://`).
        atomic_rename: the filesystem renames atomically (local disks); without it the manifest
            is written in one PUT, which object stores make atomic.
        locks: the window locks writers hold; on a local filesystem by default files under
            `<base>/_locks/`. None elsewhere: no locking (read-only uses).
    """

    def __init__(
        self,
        filesystem: pa_fs.FileSystem,
        base: str,
        uri_prefix: str,
        *,
        atomic_rename: bool,
        locks: WindowLocks | None = None,
    ) -> None:
        self.fs = filesystem
        self.base = base.rstrip("/")
        self.uri_prefix = uri_prefix
        self.atomic_rename = atomic_rename
        if locks is None and isinstance(filesystem, pa_fs.LocalFileSystem):
            locks = LocalWindowLocks(self.base)
        self.locks = locks

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

    def version_path(
        self, key_path: Sequence[str], partition: str | None, manifest: Manifest
    ) -> str:
        """The folder holding a published version's files (the window's folder in the old layout)."""
        folder = self.partition_path(key_path, partition)
        return f"{folder}/{manifest.version_folder}" if manifest.version_folder else folder

    # -- writing -------------------------------------------------------------------------
    @contextmanager
    def locked(
        self, key_path: Sequence[str], partitions: Sequence[str | None], owner: str
    ) -> Iterator[None]:
        """Hold the windows' locks (one writer per table window)."""
        with self.locks.hold(key_path, partitions, owner) if self.locks else nullcontext():
            yield

    def write(
        self,
        key_path: Sequence[str],
        partitions: Iterable[tuple[str | None, pa.Table]],
        *,
        write_id: str | None = None,
        failed_checks: dict[str | None, list[str]] | None = None,
        properties: dict[str | None, dict] | None = None,
        owner: str | None = None,
        after_publish: Callable[[list["WrittenPartition"]], None] | None = None,
        on_staged: Callable[[], None] | None = None,
    ) -> list["WrittenPartition"]:
        """Write, publish, register (`after_publish`) and clean, under the windows' locks.

        Each partition's data goes under a new version folder; every manifest is published;
        `after_publish` lets the catalogue follow the published versions; old versions go.

        Publishing happens only once all data files of the call are written, so a failure
        part-way leaves every partition at its previous version. If `after_publish` fails,
        nothing is cleaned: the versions the catalogue still points at stay. Each stage runs
        its windows in a few threads (threads.py); `on_staged` is called in this thread.
        """
        write_id = write_id or new_write_id()
        partitions = list(partitions)
        with self.locked(key_path, [p for p, _ in partitions], owner or write_id):
            staged = each(
                lambda item: self._stage(
                    key_path, item[0], item[1], write_id, failed_checks, properties
                ),
                partitions,
                on_done=on_staged,
            )
            return self.publish_staged(key_path, staged, after_publish)

    def publish_staged(
        self,
        key_path: Sequence[str],
        staged: list["StagedWindow"],
        after_publish: Callable[[list["WrittenPartition"]], None] | None = None,
    ) -> list["WrittenPartition"]:
        """Publish staged windows, let the catalogue follow, then remove old versions.

        Called under the windows' locks, once every window's data is written (by pyarrow in
        `write`, or by another engine such as Spark, engines/spark_io.py).
        """
        each(lambda item: self._publish(key_path, item[0], item[1]), staged)
        written = [
            WrittenPartition(
                p,
                self.uri(self.version_path(key_path, p, m)),
                m.rows,
                size,
                self.uri(self.partition_path(key_path, p)),
            )
            for p, m, size, _ in staged
        ]
        if after_publish is not None:
            after_publish(written)
        each(lambda item: self._clean(key_path, *item[:2], item[3]), staged)
        return written

    def previous_manifest(self, key_path: Sequence[str], partition: str | None) -> Manifest | None:
        """The version a write replaces (kept a while for readers that just opened it)."""
        try:
            return self.manifest(key_path, partition)
        except InvalidManifestError:  # a corrupt manifest is repaired by this write
            return _UNREADABLE

    def _clean(
        self,
        key_path: Sequence[str],
        partition: str | None,
        manifest: Manifest,
        previous: Manifest | None,
    ) -> None:
        """Remove the window's versions but the one just published and the one it replaced."""
        if previous is _UNREADABLE:  # what it named is unknown: remove nothing
            return
        keep = {manifest.version_folder, previous.version_folder if previous else ""}
        keep_files = set(previous.files) if previous else set()
        self._remove_stale(key_path, partition, keep - {""}, keep_files)

    def _stage(
        self,
        key_path: Sequence[str],
        partition: str | None,
        table: pa.Table,
        write_id: str,
        failed_checks: dict[str | None, list[str]] | None,
        properties: dict[str | None, dict] | None,
    ) -> tuple[str | None, Manifest, int, Manifest | None]:
        """Write one window's data under its own version folder (nothing is visible yet)."""
        version = f"{VERSION_DIR}={write_id}"
        target = f"{self.partition_path(key_path, partition)}/{version}"
        file_name = f"part-{write_id}.parquet"
        try:
            self._make_folder(target)
            if table.num_rows:
                with self.fs.open_output_stream(f"{target}/{file_name}") as sink:
                    pq.write_table(table, sink, compression="snappy", **_parquet_options(table))
                    size = sink.tell()
            else:  # an empty window is its manifest alone: the schema, no data file
                file_name, size = "", 0
        except OSError as exc:
            raise StorageWriteError(
                f"writing {describe(key_path, partition)} to {self.uri(target)} failed: {exc}. "
                "Nothing of this write was published; every window keeps its previous version.",
            ) from exc
        manifest = Manifest(
            [f"{version}/{file_name}"] if file_name else [],
            table.num_rows,
            table.schema,
            datetime.now(UTC).isoformat(),
            write_id,
            tuple((failed_checks or {}).get(partition, ())),
            (properties or {}).get(partition, {}),
            version,
        )
        return partition, manifest, size, self.previous_manifest(key_path, partition)

    def _publish(self, key_path: Sequence[str], partition: str | None, manifest: Manifest) -> None:
        path = f"{self.partition_path(key_path, partition)}/{MANIFEST}"
        try:
            self._put_atomic(path, manifest.to_json())
        except OSError as exc:
            raise StorageWriteError(
                f"publishing {describe(key_path, partition)} ({self.uri(path)}) failed: {exc}. "
                "That window keeps its previous version.",
            ) from exc

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
        self.record_many(key_path, [RecordedWindow(partition, rows, schema, properties)])

    def record_many(self, key_path: Sequence[str], windows: Sequence["RecordedWindow"]) -> None:
        """`record` for many windows: their locks taken at once, their manifests in parallel."""
        write_id = new_write_id()
        written_at = datetime.now(UTC).isoformat()

        def publish(window: RecordedWindow) -> None:
            self._make_folder(self.partition_path(key_path, window.partition))
            manifest = Manifest(
                [], window.rows, window.schema, written_at, write_id, (), window.properties
            )
            self._publish(key_path, window.partition, manifest)

        with self.locked(key_path, [w.partition for w in windows], write_id):
            each(publish, list(windows))

    def _put_atomic(self, path: str, data: bytes) -> None:
        if not self.atomic_rename:
            with self.fs.open_output_stream(path) as sink:  # one PUT: all or nothing
                sink.write(data)
            return
        temporary = f"{path}.{uuid.uuid4().hex}.tmp"
        with self.fs.open_output_stream(temporary) as sink:
            sink.write(data)
        self.fs.move(temporary, path)

    def _remove_stale(
        self,
        key_path: Sequence[str],
        partition: str | None,
        keep_folders: set[str],
        keep_files: set[str],
    ) -> None:
        """Remove the window's versions no manifest names any longer (called under its lock).

        A failure here leaves extra files behind, never a broken window: it is logged only.
        """
        folder = self.partition_path(key_path, partition)
        try:
            for name, is_dir in self._children(folder):
                if is_dir and name.startswith(f"{VERSION_DIR}=") and name not in keep_folders:
                    self._delete_folder(f"{folder}/{name}")
                elif not is_dir and name.startswith("part-") and name not in keep_files:
                    self._delete_file(f"{folder}/{name}")  # the former layout's data files
        except Exception as exc:  # any store error: cleanup is best effort, the data is safe
            dg.get_dagster_logger().warning(
                f"{describe(key_path, partition)}: removing old versions under "
                f"{self.uri(folder)} failed ({exc}); the next write of the window retries"
            )

    # -- filesystem primitives (the S3 subclass uses boto3 for them) ---------------------
    def make_folder(self, path: str) -> None:
        """Create a folder (nothing on S3)."""
        self._make_folder(path)

    def subfolders(self, folder: str) -> list[str]:
        """The names of the folders directly under `folder`."""
        return [name for name, is_dir in self._children(folder) if is_dir]

    def _make_folder(self, path: str) -> None:
        self.fs.create_dir(path, recursive=True)

    def _children(self, folder: str) -> list[tuple[str, bool]]:
        """(name, is folder) of the entries directly under `folder`."""
        selector = pa_fs.FileSelector(folder, allow_not_found=True)
        return [
            (info.base_name, info.type == pa_fs.FileType.Directory)
            for info in self.fs.get_file_info(selector)
        ]

    def _delete_folder(self, path: str) -> None:
        self.fs.delete_dir(path)

    def _delete_file(self, path: str) -> None:
        self.fs.delete_file(path)

    def move_folder(self, source: str, target: str) -> None:
        """Move a folder of data files (a rename on a local disk)."""
        self.fs.move(source, target)

    def file_sizes(self, folder: str) -> dict[str, int]:
        """Name -> size of the files directly under `folder`."""
        selector = pa_fs.FileSelector(folder, allow_not_found=True)
        return {
            info.base_name: info.size or 0
            for info in self.fs.get_file_info(selector)
            if info.type == pa_fs.FileType.File
        }

    def remove_folder(self, path: str) -> None:
        """Remove a folder and what it holds, if it is there (staging leftovers)."""
        try:
            self._delete_folder(path)
        except FileNotFoundError:
            pass

    def _get_bytes(self, path: str, what: str) -> bytes | None:
        """The object's bytes; None only when it definitely does not exist."""
        try:
            with self.fs.open_input_stream(path) as source:
                return source.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageReadError(f"reading {what} from {self.uri(path)} failed: {exc}") from exc

    # -- reading -------------------------------------------------------------------------
    def _manifest_at(self, folder: str, what: str) -> Manifest | None:
        path = f"{folder}/{MANIFEST}"
        data = self._get_bytes(path, f"the manifest of {what}")
        if data is None:
            return None
        try:
            return Manifest.from_json(data)
        except (ValueError, KeyError, TypeError, AttributeError, pa.ArrowException) as exc:
            raise InvalidManifestError(
                f"{self.uri(path)} is not a valid manifest; {what} cannot be read "
                f"({type(exc).__name__}: {exc}). Re-run the window to write it again."
            ) from exc

    def manifest(self, key_path: Sequence[str], partition: str | None) -> Manifest | None:
        """The window's published manifest; None only if it was never published.

        Raises:
            StorageReadError: the store could not answer (transient).
            StorageAccessDenied: the store refused to answer.
            InvalidManifestError: the manifest is there but unreadable.
        """
        return self._manifest_at(
            self.partition_path(key_path, partition), describe(key_path, partition)
        )

    def existing_partitions(self, key_path: Sequence[str]) -> list[str]:
        """Partition keys that have a published manifest."""
        table = self.table_path(key_path)
        prefix = f"{PARTITION_DIR}="
        keys = []
        for name, is_dir in self._children(table):
            if is_dir and name.startswith(prefix):
                key = unquote(name[len(prefix) :])
                if self._manifest_at(f"{table}/{name}", describe(key_path, key)) is not None:
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
            manifest = self.manifest(key_path, partition)
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

    def head(
        self, key_path: Sequence[str], written: Sequence[WrittenPartition], rows: int
    ) -> pa.Table:
        """The first `rows` rows of the windows just written, read from their files only."""
        first: list[str | None] = []
        found = 0
        for window in written:  # the windows that hold the first rows, no more
            if window.rows and found < rows:
                first.append(window.key)
                found += window.rows
        if not first:  # nothing written: no rows, the schema of the manifest
            manifest = self.manifest(key_path, written[0].key) if written else None
            return manifest.schema.empty_table() if manifest is not None else pa.table({})
        dataset, _ = self.dataset(key_path, first)
        return dataset.head(rows)

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
        files, counts, schemas = self.resolve(
            key_path, partitions, missing_ok=missing_ok, failed_gates=failed_gates
        )
        if not schemas:
            return pa.table({}), counts
        schema = unified(schemas)
        if not files:  # every window read is empty
            return schema.empty_table(), counts
        dataset = pa_ds.dataset(files, schema=schema, format="parquet", filesystem=self.fs)
        return dataset.to_table(use_threads=True), counts

    def resolve(
        self,
        key_path: Sequence[str],
        partitions: Sequence[str | None],
        *,
        missing_ok: bool = False,
        failed_gates: str = "read",
    ) -> tuple[list[str], list[tuple[str | None, int]], list[pa.Schema]]:
        """What `read` reads, from the manifests alone: data files, rows per window, schemas.

        Engines that read the files themselves (Spark) start here; arguments and errors are
        `read`'s.
        """
        files, counts, schemas, _ = self.resolve_with_constants(
            key_path, partitions, missing_ok=missing_ok, failed_gates=failed_gates
        )
        return files, counts, schemas

    def resolve_with_constants(
        self,
        key_path: Sequence[str],
        partitions: Sequence[str | None],
        *,
        missing_ok: bool = False,
        failed_gates: str = "read",
    ) -> tuple[list[str], list[tuple[str | None, int]], list[pa.Schema], dict[str, str]]:
        """`resolve`, and the text columns holding one value in every row read.

        Those are the `constants` on which every manifest with files agrees.
        """
        files: list[str] = []
        counts: list[tuple[str | None, int]] = []
        schemas: list[pa.Schema] = []
        constants: dict[str, str] | None = None
        for partition in partitions:
            folder = self.partition_path(key_path, partition)
            manifest = self.manifest(key_path, partition)
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
            if manifest.files:  # a window without rows holds every value and none
                constants = agreed(constants, manifest.constants)
        return files, counts, schemas, constants or {}


def agreed(constants: dict[str, str] | None, more: dict[str, str]) -> dict[str, str]:
    """The one-value columns of two parts read together: those both hold with the same value.

    `constants` None: no part before `more`, whose columns are then all kept.
    """
    if constants is None:
        return dict(more)
    return {name: value for name, value in constants.items() if more.get(name) == value}


def unified(schemas: Sequence[pa.Schema]) -> pa.Schema:
    """One schema for windows written at different times (columns added, types widened)."""
    if all(s.equals(schemas[0]) for s in schemas):
        return schemas[0]
    return pa.unify_schemas(schemas, promote_options="permissive")


def new_write_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


# S3 error codes that mean "this key does not exist", and those that mean "not allowed"
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_DENIED = {
    "AccessDenied",
    "403",
    "Forbidden",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
}


class S3TableStorage(TableStorage):
    """TableStorage on S3: manifests, listings and cleanup through boto3.

    Data files go through pyarrow (s3fs); the rest through boto3, whose errors say exactly
    what happened (s3fs's `exists`/`isfile` turn an unreachable endpoint or a 403 into
    "missing") and which caches no listing.

    Args:
        filesystem: pyarrow filesystem over s3fs, for the data files.
        base: `<bucket>/<prefix>`.
        client: a boto3 S3 client (the profile's endpoint, region and retries).
        locks: S3 lock objects (window_locks.S3WindowLocks).
    """

    def __init__(
        self, filesystem: pa_fs.FileSystem, base: str, *, client: Any, locks: WindowLocks | None
    ) -> None:
        super().__init__(filesystem, base, "s3://", atomic_rename=False, locks=locks)
        self.client = client

    def _make_folder(self, path: str) -> None:
        """Nothing: S3 has no folders (s3fs's mkdir would check, even create, the bucket)."""

    @staticmethod
    def _split(path: str) -> tuple[str, str]:
        bucket, _, key = path.partition("/")
        return bucket, key

    def _failure(self, exc: Exception, action: str, path: str) -> Exception:
        """The error to raise for a failed request: denied (permanent) or transient."""
        from botocore.exceptions import ClientError

        detail = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in _DENIED or status == 403:
                return StorageAccessDenied(
                    f"{action} {self.uri(path)} was refused by S3 ({code or status}): the "
                    "profile's credentials lack a permission on the bucket (see the README's "
                    "IAM policy). Retrying will not help until that is fixed."
                )
        return StorageReadError(
            f"{action} {self.uri(path)} failed ({detail}); S3 could not be reached or answered "
            "with an error, after the client's retries. Nothing was taken as missing."
        )

    def _get_bytes(self, path: str, what: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = self._split(path)
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") in _NOT_FOUND:
                return None
            raise self._failure(exc, f"reading {what} from", path) from exc
        except (BotoCoreError, OSError) as exc:  # unreachable endpoint, connection cut
            raise self._failure(exc, f"reading {what} from", path) from exc

    def _put_atomic(self, path: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = self._split(path)
        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=data)  # one PUT: all or nothing
        except (ClientError, BotoCoreError) as exc:
            raise StorageWriteError(f"{type(exc).__name__}: {exc}") from exc

    def _children(self, folder: str) -> list[tuple[str, bool]]:
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = self._split(folder)
        prefix = key.rstrip("/") + "/"
        children: list[tuple[str, bool]] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix, Delimiter="/"
            )
            for page in pages:
                children += [
                    (p["Prefix"][len(prefix) :].rstrip("/"), True)
                    for p in page.get("CommonPrefixes", [])
                ]
                children += [(o["Key"][len(prefix) :], False) for o in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as exc:
            raise self._failure(exc, "listing", folder) from exc
        return children

    def _delete_folder(self, path: str) -> None:
        bucket, key = self._split(path)
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=key.rstrip("/") + "/"
        )
        for page in pages:
            objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if objects:  # at most 1000 per page, the limit of delete_objects
                self.client.delete_objects(
                    Bucket=bucket, Delete={"Objects": objects, "Quiet": True}
                )

    def _delete_file(self, path: str) -> None:
        bucket, key = self._split(path)
        self.client.delete_object(Bucket=bucket, Key=key)

    def move_folder(self, source: str, target: str) -> None:
        """S3 has no rename: each object is copied (server side) to its new key, then removed."""
        bucket, key = self._split(source)
        _, target_key = self._split(target)
        prefix = key.rstrip("/") + "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                name = item["Key"][len(prefix) :]
                self.client.copy_object(
                    Bucket=bucket,
                    Key=f"{target_key.rstrip('/')}/{name}",
                    CopySource={"Bucket": bucket, "Key": item["Key"]},
                )
        self._delete_folder(source)

    def file_sizes(self, folder: str) -> dict[str, int]:
        bucket, key = self._split(folder)
        prefix = key.rstrip("/") + "/"
        sizes: dict[str, int] = {}
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, Delimiter="/"
        )
        for page in pages:
            sizes.update({o["Key"][len(prefix) :]: o["Size"] for o in page.get("Contents", [])})
        return sizes
