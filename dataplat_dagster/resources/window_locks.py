"""One writer per table window, whatever started the run (CLI, `dagster` commands, UI, sensors).

A writer holds the lock of every window it writes around write + publish + catalogue +
cleanup, so two runs of one window follow each other instead of deleting each other's files.
Dagster's run queue cannot give this guarantee (runs started from different command lines
or instances do not see each other), so the lock lives beside the warehouse itself:

- local disk: lock files under `<warehouse>/_locks/`, taken with `flock` (the OS releases
  them if the writer dies). The file itself names its holder (JSON), so taking a window's
  lock is one open, one flock and one write: a range run takes hundreds at once.
- S3: a lock object created with a conditional PUT (`If-None-Match: *`), holding owner, run,
  host, pid and an expiry that the holder renews while it writes. An expired lock (its holder
  died) is taken over with a PUT conditional on its ETag; release deletes it the same way.

A second writer waits (bounded by `timeout`), logging at INFO who holds the window and
since when, then fails with `WindowLockTimeout` naming table, window and holder.
"""

import fcntl
import json
import os
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dagster as dg
from botocore.exceptions import ClientError

from dataplat_dagster.resources.threads import each

POLL_SECONDS = 0.5
LOCKS_DIR = "_locks"


class WindowLockError(OSError):
    """The lock store could not be reached or refused the request (names table, window, URI)."""


class WindowLockTimeout(TimeoutError):
    """Another writer held the window for longer than we were willing to wait.

    A TimeoutError, so the step's RetryPolicy tries again later: the other writer will finish.
    """


@dataclass(frozen=True)
class LockHolder:
    owner: str  # the run id, or what else writes
    host: str
    pid: int
    since: str  # ISO 8601, UTC
    expires: str = ""  # ISO 8601, UTC; only object-store locks expire

    def describe(self) -> str:
        return f"run {self.owner} (host {self.host}, pid {self.pid}) since {self.since}"

    def expired(self, now: datetime) -> bool:
        return bool(self.expires) and datetime.fromisoformat(self.expires) <= now


def lock_name(table: Sequence[str], window: str | None) -> str:
    """`<layer>/<dataflow>/<table>/dt=<window>.lock` (`_table.lock` when unpartitioned)."""
    leaf = "_table" if window is None else f"dt={quote(window, safe='-_.')}"
    return "/".join([*table, f"{leaf}.lock"])


def _what(table: Sequence[str], window: str | None) -> str:
    return "/".join(table) + (f" window {window}" if window is not None else "")


class WindowLocks(ABC):
    """Locks of table windows; `hold` takes several at once in a fixed order (no deadlock)."""

    def __init__(self, *, timeout: float, log: Callable[[str], None] | None = None) -> None:
        self.timeout = timeout
        self._log = log

    def log(self, message: str) -> None:
        (self._log or dg.get_dagster_logger().info)(message)

    @contextmanager
    def hold(
        self, table: Sequence[str], windows: Sequence[str | None], owner: str
    ) -> Iterator[None]:
        ordered = sorted(set(windows), key=lambda w: "" if w is None else w)
        # one holder for the whole batch: who, where and since are the same for every window
        holder = LockHolder(owner, socket.gethostname(), os.getpid(), _now().isoformat())
        if len(ordered) > 1:
            self._prepare(table, ordered)
        with ExitStack() as stack:
            for window in ordered:
                handle, holder = self._acquire(table, window, holder)
                stack.callback(self._release, handle)
            yield

    def _acquire(
        self, table: Sequence[str], window: str | None, holder: LockHolder
    ) -> tuple[Any, LockHolder]:
        """(the window's lock handle, its holder) once taken; waits up to `timeout`.

        After a wait the holder's `since` is the moment it got the lock.
        """
        deadline = time.monotonic() + self.timeout
        reported: LockHolder | None = None
        while True:
            try:
                handle, current = self._try_acquire(table, window, holder)
            except Exception as exc:  # the store failed: say which lock, keep the cause
                raise WindowLockError(
                    f"taking the lock of {_what(table, window)} at {self.where(table, window)} "
                    f"failed ({type(exc).__name__}: {exc}). Nothing was written."
                ) from exc
            if handle is not None:
                return handle, holder
            if current is not None and current != reported:
                self.log(
                    f"{_what(table, window)} is being written by {current.describe()}; "
                    f"waiting up to {self.timeout:g}s for it to finish"
                )
                reported = current
            if time.monotonic() >= deadline:
                who = current.describe() if current else "another writer"
                raise WindowLockTimeout(
                    f"{_what(table, window)} is locked by {who} ({self.where(table, window)}); "
                    f"gave up after waiting {self.timeout:g}s. Nothing was written. "
                    "Re-run the window once that run has finished."
                )
            time.sleep(POLL_SECONDS)
            holder = replace(holder, since=_now().isoformat())

    def _prepare(self, table: Sequence[str], windows: Sequence[str | None]) -> None:
        """Anything that can be done for many locks at once before taking them in order."""

    @abstractmethod
    def where(self, table: Sequence[str], window: str | None) -> str:
        """The lock's address, for messages."""

    @abstractmethod
    def _try_acquire(
        self, table: Sequence[str], window: str | None, holder: LockHolder
    ) -> tuple[Any, LockHolder | None]:
        """(a handle, None) when taken; (None, the current holder if known) when held."""

    @abstractmethod
    def _release(self, handle: Any) -> None: ...


def _now() -> datetime:
    return datetime.now(UTC)


class LocalWindowLocks(WindowLocks):
    """Lock files under `<root>/_locks/`, taken with `flock`, each naming its holder.

    A file keeps naming its last holder after release; it is held only while flocked, and
    waiters read it only then. Lock files are never removed: removing one while another
    writer waits on it would let a third take a fresh file beside them.
    """

    def __init__(self, root: str | Path, *, timeout: float = 900.0, **kwargs: Any) -> None:
        super().__init__(timeout=timeout, **kwargs)
        self.root = Path(root) / LOCKS_DIR

    def where(self, table: Sequence[str], window: str | None) -> str:
        return str(self.root / lock_name(table, window))

    def _prepare(self, table: Sequence[str], windows: Sequence[str | None]) -> None:
        """Create the missing lock files in parallel: a new file is most of a lock's cost."""
        missing = [p for p in (self.root / lock_name(table, w) for w in windows) if not p.exists()]
        if missing:
            missing[0].parent.mkdir(parents=True, exist_ok=True)
            each(_create_lock_file, missing)

    def _try_acquire(
        self, table: Sequence[str], window: str | None, holder: LockHolder
    ) -> tuple[Any, LockHolder | None]:
        path = self.root / lock_name(table, window)
        try:
            fd = _open_lock_file(path)
        except FileNotFoundError:  # the table's first lock: its folder comes first
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = _open_lock_file(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # held: say by whom
            current = _parse_holder(os.pread(fd, 4096, 0))
            os.close(fd)
            return None, current
        except BaseException:
            os.close(fd)
            raise
        if os.fstat(fd).st_nlink == 0:  # removed after we opened it: take the file now there
            os.close(fd)
            return None, None
        try:
            body = _holder_json(holder)
            os.pwrite(fd, body, 0)
            os.ftruncate(fd, len(body))  # a longer former holder's tail goes
        except BaseException:
            os.close(fd)  # releases the flock
            raise
        return fd, None

    def _release(self, handle: Any) -> None:
        os.close(handle)  # closing the only descriptor releases the flock


def _open_lock_file(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


def _create_lock_file(path: Path) -> None:
    os.close(_open_lock_file(path))


@lru_cache(maxsize=64)
def _holder_json(holder: LockHolder) -> bytes:
    return json.dumps(asdict(holder)).encode()


def _parse_holder(data: bytes) -> LockHolder | None:
    try:
        return LockHolder(**json.loads(data))
    except (ValueError, TypeError):  # not written yet, or being replaced
        return None


class S3WindowLocks(WindowLocks):
    """Lock objects under `s3://<bucket>/<prefix>/_locks/`, created with conditional PUTs."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        *,
        timeout: float = 900.0,
        ttl: float = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(timeout=timeout, **kwargs)
        self.client = client
        self.bucket = bucket
        self.prefix = "/".join(p for p in (prefix.strip("/"), LOCKS_DIR) if p)
        self.ttl = ttl

    def key(self, table: Sequence[str], window: str | None) -> str:
        return f"{self.prefix}/{lock_name(table, window)}"

    def where(self, table: Sequence[str], window: str | None) -> str:
        return f"s3://{self.bucket}/{self.key(table, window)}"

    def _body(self, holder: LockHolder) -> bytes:
        expires = (_now() + timedelta(seconds=self.ttl)).isoformat()
        return json.dumps({**asdict(holder), "expires": expires}).encode()

    def put(self, key: str, holder: LockHolder, **condition: str) -> str | None:
        """The new ETag, or None when the condition failed (someone else holds it)."""
        try:
            response = self.client.put_object(
                Bucket=self.bucket, Key=key, Body=self._body(holder), **condition
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"):
                return None
            raise
        return response["ETag"]

    def _current(self, key: str) -> tuple[LockHolder | None, str | None]:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code", "") in ("NoSuchKey", "404"):
                return None, None
            raise
        body = response["Body"].read()
        try:
            return LockHolder(**json.loads(body)), response["ETag"]
        except (ValueError, TypeError):  # unreadable: treat as expired, it names nobody
            return LockHolder("unknown", "unknown", 0, "", "1970-01-01T00:00:00+00:00"), response[
                "ETag"
            ]

    def _try_acquire(
        self, table: Sequence[str], window: str | None, holder: LockHolder
    ) -> tuple[Any, LockHolder | None]:
        key = self.key(table, window)
        etag = self.put(key, holder, IfNoneMatch="*")
        if etag is None:
            current, current_etag = self._current(key)
            if current is None:  # released meanwhile: try again at once next round
                return None, None
            if not current.expired(_now()):
                return None, current
            self.log(
                f"{_what(table, window)}: taking over the expired lock of {current.describe()}"
            )
            etag = self.put(key, holder, IfMatch=current_etag)  # only if nobody else did
            if etag is None:
                return None, current
        return _Renewal(self, key, holder, etag), None

    def _release(self, handle: Any) -> None:
        handle.stop()


class _Renewal:
    """Keeps a held S3 lock from expiring while its writer is alive."""

    def __init__(self, locks: S3WindowLocks, key: str, holder: LockHolder, etag: str) -> None:
        self.locks, self.key, self.holder, self.etag = locks, key, holder, etag
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.locks.ttl / 3):
            try:
                etag = self.locks.put(self.key, self.holder, IfMatch=self.etag)
            except Exception:  # a passing S3 error: the next tick tries again before expiry
                continue
            if etag is None:  # taken over: nothing more to renew
                return
            self.etag = etag

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        try:  # delete only our own lock
            self.locks.client.delete_object(
                Bucket=self.locks.bucket, Key=self.key, IfMatch=self.etag
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code", "") not in (
                "PreconditionFailed",
                "NoSuchKey",
            ):
                raise
