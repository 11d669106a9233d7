"""Which failures are worth retrying."""

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.exc import OperationalError

# Failures worth retrying: the storage, the network or a service failed for a moment.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    BotoCoreError,
    OperationalError,
)
# OSErrors that waiting does not fix: a full disk or quota, a permission, a read-only mount.
# Retrying them only buries the cause under "Exceeded max_retries" a few minutes later.
PERMANENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS})
_TRANSIENT_AWS_CODES = {
    "Throttling",
    "ThrottlingException",
    "SlowDown",
    "RequestTimeout",
    "ServiceUnavailable",
    "InternalError",
}


def chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, then its cause or context, and so on (each once), outermost first."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_permanent_os_error(error: BaseException) -> bool:
    if not isinstance(error, OSError):
        return False
    if error.errno is not None:
        return error.errno in PERMANENT_ERRNOS
    # pyarrow's OSErrors carry the errno only in their text ("Detail: [errno 28] No space ...")
    text = str(error)
    return any(os.strerror(number) in text for number in PERMANENT_ERRNOS)


# SQLite's SQLITE_FULL (the disk of catalog.db or metrics.db is full) has no errno
_PERMANENT_TEXTS = ("database or disk is full",)


def is_transient(error: BaseException) -> bool:
    """True when retrying may help: a transient error, and no permanent one in its chain.

    A wrapper (pyarrow's, fsspec's, a StorageWriteError) may hide a full disk behind a generic
    OSError, so the whole cause chain is looked at.
    """
    errors = list(chain(error))
    if any(is_permanent_os_error(e) for e in errors):
        return False
    if any(text in str(e) for e in errors for text in _PERMANENT_TEXTS):
        return False
    return _is_transient_one(error)


def _is_transient_one(error: BaseException) -> bool:
    if isinstance(
        error, ClientError
    ):  # botocore retried it already; only a passing overload is worth more
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in _TRANSIENT_AWS_CODES or status >= 500
    return isinstance(error, TRANSIENT_ERRORS)


@contextmanager
def failures_sorted(table: object | None = None) -> Iterator[None]:
    """Transient failures left to the step's RetryPolicy, any other failing the step at once.

    Any other: a `dg.Failure` without retries (a full disk, bad input, a failed rule or a bug
    in a transform: retrying only delays the cause). With `table`, the message names it and
    the error's type.
    """
    try:
        yield
    except dg.Failure:
        raise
    except Exception as exc:
        if is_transient(exc):
            raise
        description = f"{table}: {type(exc).__name__}: {exc}" if table is not None else str(exc)
        raise dg.Failure(description=description, allow_retries=False) from exc
