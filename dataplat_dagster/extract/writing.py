"""Writing an extracted window's records into the file store as one JSON lines file.

Records are streamed to a local temporary file (never all in memory), then published whole:
on a local store moved into place, on an object store uploaded (an object appears only when
its upload completes). A failure before publishing leaves the previous file as it was.
"""

import json
import os
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow.fs as pa_fs

from dataplat_dagster.resources.file_store import FileStore


@dataclass(frozen=True)
class Written:
    rows: int
    bytes: int
    uri: str


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write_jsonl(file_store: FileStore, path: str, records: Iterable[dict[str, Any]]) -> Written:
    """Write `records` to `path` (relative to the store's root) atomically."""
    rows = 0
    handle, local = tempfile.mkstemp(prefix="dataplat-extract-", suffix=".jsonl")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as sink:
            for record in records:
                sink.write(json.dumps(record, default=_plain, ensure_ascii=False))
                sink.write("\n")
                rows += 1
        size = os.path.getsize(local)
        _publish(file_store, local, path)
        return Written(rows=rows, bytes=size, uri=file_store.uri(path))
    finally:
        if os.path.exists(local):
            os.remove(local)


def _publish(file_store: FileStore, local: str, path: str) -> None:
    fs, base = file_store.arrow_filesystem()
    target = f"{base}/{path}"
    folder, _, name = target.rpartition("/")
    if isinstance(fs, pa_fs.LocalFileSystem):
        fs.create_dir(folder, recursive=True)
        temporary = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"  # hidden: listings skip it
        pa_fs.copy_files(local, temporary, destination_filesystem=fs)
        fs.move(temporary, target)
    else:
        pa_fs.copy_files(
            local, target, source_filesystem=pa_fs.LocalFileSystem(), destination_filesystem=fs
        )
