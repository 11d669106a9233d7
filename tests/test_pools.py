"""The writer pools on a real PostgreSQL instance (dagster.aws.yaml).

Dagster creates a pool lazily at a step's first claim, and on PostgreSQL two runs creating it
at once fail (dagster-io/dagster#33552); `ensure_writer_pools` creates them first, and must
itself survive two processes doing so in the same instant.
"""

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from dataplat_dagster.pools import ensure_writer_pools, writer_pool
from tests.conftest import postgres_dagster_home

pytestmark = pytest.mark.integration


@pytest.fixture
def postgres_home(
    tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    for name, value in postgres_dagster_home(tmp_path, postgres_database).items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.get():  # creates the schema once, before any race
        pass
    yield tmp_path


def _limits(instance: dg.DagsterInstance) -> dict[str, tuple[int, bool]]:
    return {
        pool.name: (pool.limit, pool.from_default)
        for pool in instance.event_log_storage.get_pool_limits()
    }


def test_missing_pools_are_created_with_one_writer(postgres_home: Path) -> None:
    with dg.DagsterInstance.get() as instance:
        assert ensure_writer_pools(instance, ["retail", "tpch", "retail"]) == [
            "dataplat_retail",
            "dataplat_tpch",
        ]
        assert _limits(instance) == {"dataplat_retail": (1, False), "dataplat_tpch": (1, False)}
        assert ensure_writer_pools(instance, ["retail"]) == []  # idempotent


def test_a_limit_set_by_an_operator_is_kept(postgres_home: Path) -> None:
    with dg.DagsterInstance.get() as instance:
        instance.event_log_storage.set_concurrency_slots(writer_pool("retail"), 3)
        assert ensure_writer_pools(instance, ["retail"]) == []
        assert _limits(instance)["dataplat_retail"] == (3, False)


def _ensure_after(barrier, dataflows: list[str], results) -> None:
    with dg.DagsterInstance.get() as instance:
        barrier.wait()
        try:
            results.put(ensure_writer_pools(instance, dataflows))
        except Exception as exc:  # reported to the test, which fails on it
            results.put(repr(exc))


def test_two_processes_creating_the_same_pools_at_once_both_succeed(postgres_home: Path) -> None:
    dataflows = [f"flow{i}" for i in range(8)]
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(2), spawn.Queue()
    processes = [
        spawn.Process(target=_ensure_after, args=(barrier, dataflows, results)) for _ in range(2)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert all(isinstance(outcome, list) for outcome in outcomes), outcomes
    # between them they set every pool (both may set one: same limit), which exists once
    assert set(outcomes[0]) | set(outcomes[1]) == {writer_pool(d) for d in dataflows}
    with dg.DagsterInstance.get() as instance:
        assert _limits(instance) == {writer_pool(d): (1, False) for d in dataflows}
