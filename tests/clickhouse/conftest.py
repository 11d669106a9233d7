"""ClickHouse in this process (chDB): one data folder per test session, a database per test.

chDB opens one data folder per process, so every test shares the session's folder and
writes into its own database (the connection URL's `database`).
"""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataplat_dagster.resources.clickhouse import ChdbClient, connect


@pytest.fixture(scope="session")
def chdb_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def chdb_url(chdb_folder: Path) -> Iterator[str]:
    """A chdb:// URL of a database of its own, dropped after the test."""
    database = f"test_{uuid.uuid4().hex[:10]}"
    url = f"chdb://{chdb_folder}?database={database}"
    yield url
    connect(url).command(f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture
def reader(chdb_url: str) -> ChdbClient:
    """A separate client of the same database, as an external reader queries it."""
    client = connect(chdb_url)
    assert isinstance(client, ChdbClient)
    return client
