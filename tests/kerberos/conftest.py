"""One Kerberos realm and one kerberized PostgreSQL cluster per test session."""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kerberos.realm import KerberizedPostgres, kerberized_postgres


@pytest.fixture(scope="session")
def kerberized() -> Iterator[KerberizedPostgres]:
    # not pytest's tmp_path: its folders are private to root, and the server runs as postgres
    folder = Path(tempfile.mkdtemp(prefix="dataplat-kerberos-"))
    folder.chmod(0o755)
    try:
        with kerberized_postgres(folder / "realm") as cluster:
            yield cluster
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def krb5_config(kerberized: KerberizedPostgres, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test realm's krb5.conf for this process's Kerberos library (libpq's and kinit's)."""
    monkeypatch.setenv("KRB5_CONFIG", str(kerberized.krb5_config))
    monkeypatch.delenv("KRB5CCNAME", raising=False)
    return kerberized.krb5_config
