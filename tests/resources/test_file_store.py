"""LocalFileStore: a folder of landing or export files.

Covers list_files (sorted, relative POSIX paths, folder prefixes and a single file as the
prefix, hidden files skipped, a missing folder), write_bytes (atomic: complete file, no
temporary file left, nested folders created, file:// URI returned), open_input,
arrow_filesystem and FileInfo.version. Files are created on tmp_path; the S3 store is not
touched.
"""

import os
from pathlib import Path

import pyarrow.fs as pa_fs
import pytest

from dataplat_dagster.resources.file_store import FileInfo, LocalFileStore


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    for relative, text in {
        "orders/2024-01-02.csv": "id\n2\n",
        "orders/2024-01-01.csv": "id\n1\n",
        "orders/.2024-01-03.csv.partial": "id\n",
        "customers/all.csv": "id,name\n1,Ann\n",
        "b.txt": "b",
        "a.txt": "aa",
        ".DS_Store": "x",
    }.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


@pytest.fixture
def store(root: Path) -> LocalFileStore:
    return LocalFileStore(root=str(root))


def test_list_files_is_sorted_relative_and_skips_hidden(store: LocalFileStore) -> None:
    files = store.list_files()

    assert [f.path for f in files] == [
        "a.txt",
        "b.txt",
        "customers/all.csv",
        "orders/2024-01-01.csv",
        "orders/2024-01-02.csv",
    ]
    sizes = {f.path: f.size for f in files}
    assert sizes["a.txt"] == 2
    assert sizes["customers/all.csv"] == len("id,name\n1,Ann\n")


def test_list_files_under_a_prefix(store: LocalFileStore) -> None:
    assert [f.path for f in store.list_files("orders")] == [
        "orders/2024-01-01.csv",
        "orders/2024-01-02.csv",
    ]
    assert [f.path for f in store.list_files("orders/")] == [
        "orders/2024-01-01.csv",
        "orders/2024-01-02.csv",
    ]
    assert [f.path for f in store.list_files("customers/all.csv")] == ["customers/all.csv"]


def test_list_files_of_a_missing_folder_is_empty(tmp_path: Path, store: LocalFileStore) -> None:
    assert store.list_files("nowhere") == []
    assert LocalFileStore(root=str(tmp_path / "absent")).list_files() == []


def test_write_bytes_is_complete_leaves_no_temporary_and_returns_a_uri(
    store: LocalFileStore, root: Path
) -> None:
    uri = store.write_bytes("exports/2024/01/report.csv", b"a,b\n1,2\n")

    target = root / "exports" / "2024" / "01" / "report.csv"
    assert target.read_bytes() == b"a,b\n1,2\n"
    assert uri == target.resolve().as_uri()
    assert uri.startswith("file://")
    assert [p.name for p in target.parent.iterdir()] == ["report.csv"]
    assert not [p for p in root.rglob("*.tmp")]


def test_write_bytes_replaces_an_existing_file(store: LocalFileStore, root: Path) -> None:
    store.write_bytes("a.txt", b"new content")

    assert (root / "a.txt").read_bytes() == b"new content"
    assert [f.size for f in store.list_files() if f.path == "a.txt"] == [len(b"new content")]
    assert sorted(p.name for p in root.iterdir() if p.is_file()) == [".DS_Store", "a.txt", "b.txt"]


def test_open_input_reads_back_what_was_written(store: LocalFileStore) -> None:
    payload = bytes(range(256)) * 10
    store.write_bytes("bin/data.bin", payload)

    with store.open_input("bin/data.bin") as source:
        assert source.read() == payload
    with store.open_input("orders/2024-01-01.csv") as source:
        assert source.read() == b"id\n1\n"


def test_arrow_filesystem_points_at_the_root(store: LocalFileStore, root: Path) -> None:
    filesystem, base = store.arrow_filesystem()

    assert isinstance(filesystem, pa_fs.LocalFileSystem)
    assert Path(base) == root.resolve()
    info = filesystem.get_file_info(f"{base}/b.txt")
    assert info.type == pa_fs.FileType.File and info.size == 1
    assert (
        store.uri("orders/2024-01-01.csv")
        == (root / "orders" / "2024-01-01.csv").resolve().as_uri()
    )
    assert store.source_host()


def test_version_changes_with_size_or_mtime(store: LocalFileStore, root: Path) -> None:
    def version() -> str:
        [info] = store.list_files("b.txt")
        return info.version

    target = root / "b.txt"
    os.utime(target, (1_700_000_000, 1_700_000_000))
    first = version()
    assert version() == first  # stable while nothing changes

    target.write_text("B")  # same size, new modification time
    os.utime(target, (1_700_000_100, 1_700_000_100))
    second = version()
    assert second != first

    target.write_text("BBB")  # new size, same modification time
    os.utime(target, (1_700_000_100, 1_700_000_100))
    assert version() not in {first, second}


def test_version_prefers_an_etag() -> None:
    assert FileInfo("a", 1, 2.0, etag='"abc"').version == '"abc"'
    assert FileInfo("a", 1, 2.0).version != FileInfo("a", 1, 2.5).version
    assert FileInfo("a", 1, 2.0).version != FileInfo("a", 2, 2.0).version
