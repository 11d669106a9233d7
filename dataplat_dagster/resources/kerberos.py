"""Kerberos tickets for PostgreSQL connections that authenticate with GSSAPI.

libpq asks the Kerberos library for the default credentials cache (KRB5CCNAME) at each
connect; a connection with a keytab gets its own cache, filled by `kinit -k -t` before its
first connect, renewed when `klist -s` says it expired and once more when the server refuses
a ticket. KRB5CCNAME is process-wide, so it is set only around a connect, under a lock.
"""

import atexit
import functools
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

GSSENCMODES = ("disable", "prefer", "require")
_ENVIRONMENT_LOCK = threading.Lock()
Connected = TypeVar("Connected")


class KerberosError(RuntimeError):
    """A connection's ticket could not be obtained (kinit missing, a bad keytab, no KDC)."""


@dataclass
class KerberosLogin:
    """The ticket of one named connection: its principal, keytab (optional) and cache."""

    connection: str
    principal: str | None = None
    keytab: str | None = None
    ccache: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _ticket_checked: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.ccache is None and self.keytab is not None:
            self.ccache = f"FILE:{private_cache_folder() / _file_name(self.connection)}"

    @property
    def who(self) -> str:
        return f"database connection {self.connection!r} (Kerberos {self.principal or 'default principal'})"

    def connect(
        self, open_connection: Callable[[], Connected], refused: type[Exception]
    ) -> Connected:
        """`open_connection()` with this connection's ticket; a GSSAPI refusal re-kinits once."""
        self._ensure_ticket()
        try:
            return self._with_cache(open_connection)
        except refused as error:
            if self.keytab is None or "GSS" not in str(error):
                raise _named(error, self.who) from error
        self.kinit()  # the cached ticket may be stale (expired, or the keytab was rotated)
        try:
            return self._with_cache(open_connection)
        except refused as error:
            raise _named(error, self.who) from error

    def kinit(self) -> None:
        """A new ticket from the keytab into this connection's private cache."""
        assert self.keytab is not None and self.principal is not None and self.ccache is not None
        kinit = shutil.which("kinit")
        if kinit is None:
            raise KerberosError(
                f"{self.who}: kinit is not installed (Debian/Ubuntu: krb5-user; "
                "RHEL: krb5-workstation)"
            )
        if not os.access(self.keytab, os.R_OK):
            raise KerberosError(f"{self.who}: keytab {self.keytab} is missing or unreadable")
        command = [kinit, "-k", "-t", self.keytab, "-c", self.ccache, self.principal]
        try:
            done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired as error:
            raise KerberosError(f"{self.who}: kinit got no answer from the KDC in 60 s") from error
        if done.returncode != 0:
            detail = " ".join((done.stderr or done.stdout).split())
            raise KerberosError(f"{self.who}: kinit with keytab {self.keytab} failed: {detail}")

    def _ensure_ticket(self) -> None:
        if self.keytab is None:
            return  # a ticket from outside (a ccache given, or the environment's)
        with self._lock:
            if not self._ticket_checked or not self._ticket_is_valid():
                self.kinit()
                self._ticket_checked = True

    def _ticket_is_valid(self) -> bool:
        klist = shutil.which("klist")
        if klist is None:
            return False  # kinit then explains what is missing
        done = subprocess.run(
            [klist, "-s", "-c", str(self.ccache)], check=False, capture_output=True, timeout=30
        )
        return done.returncode == 0

    def _with_cache(self, open_connection: Callable[[], Connected]) -> Connected:
        with _credentials_cache(self.ccache):
            return open_connection()


@contextmanager
def _credentials_cache(ccache: str | None) -> Iterator[None]:
    if ccache is None:
        yield
        return
    with _ENVIRONMENT_LOCK:
        before = os.environ.get("KRB5CCNAME")
        os.environ["KRB5CCNAME"] = ccache
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("KRB5CCNAME", None)
            else:
                os.environ["KRB5CCNAME"] = before


def _named(error: Exception, who: str) -> Exception:
    """The driver's error, same class, on one line and naming the connection."""
    detail = " ".join(str(error).split())
    try:
        return type(error)(f"{who}: {detail}")
    except TypeError:  # an error class with another constructor
        return KerberosError(f"{who}: {detail}")


@functools.cache
def private_cache_folder() -> Path:
    """A folder only this process's user can read (mkdtemp: 0700), removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="dataplat-krb5cc-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _file_name(connection: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", connection) or "connection"
