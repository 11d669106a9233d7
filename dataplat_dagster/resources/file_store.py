"""Files outside the warehouse: landing files that arrive, exports that leave.

`FileStore` is the interface (list, read, write atomically); `LocalFileStore` works on a
folder, the S3 implementation on a bucket prefix. Readers get a pyarrow filesystem so the
engines read landing files without copying them.
"""

import os
import socket
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pyarrow.fs as pa_fs
from pydantic import Field

from dataplat_dagster.resources.aws import AwsResource


@dataclass(frozen=True)
class FileInfo:
    """One file, by its path relative to the store's root."""

    path: str
    size: int
    mtime: float
    etag: str | None = None

    @property
    def version(self) -> str:
        """Changes whenever the content may have changed."""
        return self.etag or f"{self.size}-{self.mtime:.6f}"


class FileStore(dg.ConfigurableResource, ABC):
    """A tree of files under one root."""

    @abstractmethod
    def list_files(self, prefix: str = "") -> list[FileInfo]:
        """Every file under `prefix` (relative to the root), sorted by path."""

    @abstractmethod
    def arrow_filesystem(self) -> tuple[pa_fs.FileSystem, str]:
        """A pyarrow filesystem and the root path inside it."""

    @abstractmethod
    def uri(self, path: str) -> str:
        """An address users can open for `path`."""

    @abstractmethod
    def source_host(self) -> str:
        """Where the files come from, for the raw layer's `_source_host` column."""

    def open_input(self, path: str):
        fs, base = self.arrow_filesystem()
        return fs.open_input_file(f"{base}/{path}")

    def write_bytes(self, path: str, data: bytes) -> str:
        """Write a file so that it appears complete or not at all; returns its URI."""
        fs, base = self.arrow_filesystem()
        target = f"{base}/{path}"
        if isinstance(fs, pa_fs.LocalFileSystem):
            # object stores have no folders (and s3fs's mkdir checks, even creates, the bucket)
            fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            folder, _, name = target.rpartition("/")
            temporary = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"  # hidden: listings skip it
            with fs.open_output_stream(temporary) as sink:
                sink.write(data)
            fs.move(temporary, target)
        else:  # object stores publish an object only when its upload completes
            with fs.open_output_stream(target) as sink:
                sink.write(data)
        return self.uri(path)


def _walk(folder: str, named: str) -> Iterator[FileInfo]:
    """The visible files under `folder`, their paths starting with `named`.

    os.scandir, as pathlib's rglob costs 3 times more on a folder of many files.
    """
    with os.scandir(folder) as entries:
        for entry in entries:
            path = named + entry.name
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(entry.path, path + "/")
            elif entry.is_file() and not entry.name.startswith("."):
                stat = entry.stat()
                yield FileInfo(path, stat.st_size, stat.st_mtime)


class LocalFileStore(FileStore):
    """Files in a local folder."""

    root: str = Field(description="the folder")

    def list_files(self, prefix: str = "") -> list[FileInfo]:
        root = Path(self.root)
        start = root / prefix if prefix else root
        if start.is_file():
            stat = start.stat()
            return [FileInfo(start.relative_to(root).as_posix(), stat.st_size, stat.st_mtime)]
        if not start.is_dir():
            return []
        above = start.relative_to(root).as_posix()
        files = _walk(str(start), "" if above == "." else above + "/")
        return sorted(files, key=lambda info: info.path)

    def arrow_filesystem(self) -> tuple[pa_fs.FileSystem, str]:
        return pa_fs.LocalFileSystem(), str(Path(self.root).resolve())

    def uri(self, path: str) -> str:
        return (Path(self.root).resolve() / path).as_uri()

    def source_host(self) -> str:
        return socket.gethostname()


class S3FileStore(FileStore):
    """Files under `s3://<bucket>/<prefix>/`; listing goes through dagster-aws's get_objects."""

    bucket: str = Field(description="S3 bucket")
    prefix: str = Field("", description="key prefix of the tree")
    aws: dg.ResourceDependency[AwsResource]

    def _key(self, path: str) -> str:
        return "/".join(part for part in (self.prefix.strip("/"), path.strip("/")) if part)

    def list_files(self, prefix: str = "") -> list[FileInfo]:
        from dagster_aws.s3.sensor import get_objects

        root = self._key("")
        start = self._key(prefix)
        objects = get_objects(self.bucket, prefix=start, client=self.aws.client("s3"))
        files = []
        for item in objects:
            key = item["Key"]
            relative = key[len(root) :].lstrip("/") if root else key
            if key.endswith("/") or relative.rsplit("/", 1)[-1].startswith("."):
                continue
            files.append(
                FileInfo(
                    relative,
                    int(item["Size"]),
                    item["LastModified"].timestamp(),
                    item.get("ETag", "").strip('"') or None,
                )
            )
        return sorted(files, key=lambda info: info.path)

    def arrow_filesystem(self) -> tuple[pa_fs.FileSystem, str]:
        filesystem = pa_fs.PyFileSystem(pa_fs.FSSpecHandler(self.aws.s3fs()))
        return filesystem, f"{self.bucket}/{self.prefix.strip('/')}".rstrip("/")

    def uri(self, path: str) -> str:
        return f"s3://{self.bucket}/{self._key(path)}"

    def source_host(self) -> str:
        return f"s3://{self.bucket}"
