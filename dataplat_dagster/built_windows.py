"""What a window was built from: sensors ask before requesting a run.

Every table's window has a manifest in the warehouse (outputs record one too, naming their
exports), and the raw table's manifest names the landing files it read, as `path@version`
(size and modification time, or the S3 ETag). A window whose raw table was built from the
same file versions, and whose tables below are all built (or held back by a closed quality
gate above them), is settled: requesting it again would rebuild the same rows. This holds
whoever built it (`dataplat run`, `dagster job execute`, the UI), since all of them write the
same manifests.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dataplat_dagster.config.plan import TableId, TablePlan
from dataplat_dagster.resources.file_store import FileInfo
from dataplat_dagster.resources.storage import TableStorage


def file_versions(files: Iterable[FileInfo]) -> list[str]:
    """The files as recorded in raw manifests: sorted `path@version`."""
    return sorted(f"{info.path}@{info.version}" for info in files)


@dataclass(frozen=True)
class WindowState:
    settled: bool
    reason: str


def window_state(
    storage: TableStorage,
    raw: TablePlan,
    tables: Sequence[TablePlan],
    window: str | None,
    files: Iterable[FileInfo],
) -> WindowState:
    """Is `window` built from exactly `files`, through every table of `tables`?

    Args:
        storage: the warehouse.
        raw: the raw table reading the files.
        tables: the tables a run for these files would build, in dependency order (raw first).
        window: the window (None: an unpartitioned source).
        files: the source's files for the window, as listed now.
    """
    where = f"window {window}" if window is not None else "the whole table"
    manifest = storage.manifest(raw.id.key_path, window if raw.partitioned else None)
    if manifest is None:
        return WindowState(False, f"{raw.id} has not been built for {where}")
    current = file_versions(files)
    built_from = manifest.properties.get("source_files")
    if built_from != current:
        return WindowState(False, f"{raw.id} {where} was built from other file versions")
    blocked: set[TableId] = set()
    for table in tables:
        built = storage.manifest(table.id.key_path, window if table.partitioned else None)
        if built is None:
            if any(upstream in blocked for upstream in table.inputs):
                blocked.add(table.id)  # held back by a closed gate above: nothing to do here
                continue
            return WindowState(False, f"{table.id} has not been built for {where}")
        if built.failed_checks:
            blocked.add(table.id)
    held = sorted(str(t) for t in blocked)
    return WindowState(
        True,
        f"{where} is already built from the same files ({', '.join(current)})"
        + (f"; held back by a closed quality gate: {', '.join(held)}" if held else ""),
    )
