"""Which landing files belong to which window (shared by raw assets and sensors)."""

from collections import defaultdict
from datetime import UTC, datetime

from dataplat_dagster.config.plan import TablePlan
from dataplat_dagster.partitions import build_partitions_def, current_window_index
from dataplat_dagster.resources.file_store import FileInfo, FileStore


def matching_files(file_store: FileStore, landing: TablePlan) -> list[tuple[FileInfo, str | None]]:
    """Every file of the source with the window its name gives (None: no date in the pattern)."""
    pattern = landing.path_pattern
    assert pattern is not None
    # bound once: a source may hold thousands of files
    index = (
        current_window_index(build_partitions_def(landing.partitioning), datetime.now(UTC))
        if landing.partitioning
        else None
    )
    found = []
    for info in file_store.list_files(pattern.static_prefix):
        match = pattern.match(info.path)
        if match is None:
            continue
        key = None
        if match.moment is not None and index is not None:
            key = index.key_of(match.moment)
            if key is None:
                continue  # dated outside the declared windows
        found.append((info, key))
    return found


def files_by_window(
    file_store: FileStore, landing: TablePlan, keys: list[str | None]
) -> dict[str | None, list[FileInfo]]:
    """The files of each requested window; a source without {date} gives all its files to None."""
    wanted = set(keys)
    grouped: dict[str | None, list[FileInfo]] = defaultdict(list)
    for info, key in matching_files(file_store, landing):
        if key is None or key in wanted:
            grouped[key].append(info)
    return dict(grouped)
