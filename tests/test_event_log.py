"""The batching SQLite event log: a range run's windows recorded as Dagster's own storage would."""

import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events.log import EventLogEntry

from dataplat_dagster.event_log import (
    OPEN_DATABASES,
    BatchingSqliteEventLogStorage,
    enable_event_batches,
)

ROOT = Path(__file__).resolve().parents[1]
WINDOWS = dg.DailyPartitionsDefinition(
    start_date="2024-01-01", end_date="2024-03-01", timezone="America/Chicago"
)


@dg.asset(partitions_def=WINDOWS, backfill_policy=dg.BackfillPolicy.single_run())
def daily(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"windows": len(context.partition_keys)})


@dg.asset(partitions_def=WINDOWS, deps=[daily], backfill_policy=dg.BackfillPolicy.single_run())
def below(context: dg.AssetExecutionContext) -> None:
    context.add_output_metadata({"first": context.partition_keys[0]})


def _materialize_range(instance: dg.DagsterInstance, first: str, last: str) -> None:
    result = dg.materialize(
        [daily, below],
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
    )
    assert result.success


@pytest.fixture
def batching_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    enable_event_batches()
    overrides = {
        "event_log_storage": {
            "module": "dataplat_dagster.event_log",
            "class": "BatchingSqliteEventLogStorage",
            "config": {"base_dir": str(tmp_path / "events")},
        }
    }
    with dg.instance_for_test(overrides=overrides) as instance:
        assert isinstance(instance.event_log_storage, BatchingSqliteEventLogStorage)
        yield instance


def test_a_range_run_records_every_window_of_every_asset(batching_instance, monkeypatch):
    batches: list[int] = []
    original = BatchingSqliteEventLogStorage.store_event_batch

    def counted(self, events):
        batches.append(len(events))
        original(self, events)

    monkeypatch.setattr(BatchingSqliteEventLogStorage, "store_event_batch", counted)
    _materialize_range(batching_instance, "2024-01-01", "2024-02-29")
    assert batches.count(60) == 2  # each asset's 60 windows in one batch (and the planned events)
    keys = WINDOWS.get_partition_keys()
    assert len(keys) == 60
    for asset in ("daily", "below"):
        key = dg.AssetKey(asset)
        assert batching_instance.get_materialized_partitions(key) == set(keys)
        records = batching_instance.fetch_materializations(key, limit=100).records
        assert sorted(r.partition_key for r in records) == keys
        latest = batching_instance.get_latest_materialization_event(key)
        assert latest is not None and latest.dagster_event.partition == "2024-02-29"
        # the partition tag the UI and asset queries filter on, for a window in the middle
        tagged = batching_instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=["2024-01-15"]), limit=5
        ).records
        assert len(tagged) == 1


def test_a_second_range_moves_the_latest_window_and_keeps_the_first(batching_instance):
    _materialize_range(batching_instance, "2024-02-01", "2024-02-10")
    _materialize_range(batching_instance, "2024-01-01", "2024-01-05")
    key = dg.AssetKey("daily")
    materialized = batching_instance.get_materialized_partitions(key)
    assert len(materialized) == 15 and "2024-02-10" in materialized
    latest = batching_instance.get_latest_materialization_event(key)
    assert latest is not None and latest.dagster_event.partition == "2024-01-05"
    for window in ("2024-02-03", "2024-01-02"):
        records = batching_instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[window]), limit=5
        ).records
        assert [r.partition_key for r in records] == [window]


def test_the_same_records_as_dagsters_own_sqlite_storage(batching_instance, tmp_path: Path):
    with dg.instance_for_test() as plain:
        for instance in (batching_instance, plain):
            _materialize_range(instance, "2024-01-10", "2024-01-20")
        for asset in ("daily", "below"):
            key = dg.AssetKey(asset)
            mine, theirs = (
                [
                    (r.partition_key, r.asset_materialization.metadata)
                    for r in instance.fetch_materializations(key, limit=50).records
                ]
                for instance in (batching_instance, plain)
            )
            assert mine == theirs


def test_the_projects_instance_settings_select_it(tmp_path: Path, monkeypatch):
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, BatchingSqliteEventLogStorage)
        # Dagster's own place for the event log, so an existing instance keeps its history
        assert Path(storage._base_dir) == home / "history" / "runs"


def _log_line(run_id: str, text: str) -> EventLogEntry:
    return EventLogEntry(
        error_info=None,
        level=20,
        user_message=text,
        run_id=run_id,
        timestamp=time.time(),
        step_key="step",
        job_name="job",
        dagster_event=None,
    )


def test_connections_stay_open_for_a_few_databases_and_flush_less(tmp_path: Path) -> None:
    storage = BatchingSqliteEventLogStorage(base_dir=str(tmp_path))
    runs = [f"run{i}" for i in range(OPEN_DATABASES + 4)]
    for run_id in runs:
        storage.store_event(_log_line(run_id, f"hello from {run_id}"))
    assert len(storage.__dict__["_engines"]) == OPEN_DATABASES  # the least recent closed
    for run_id in runs:  # every run's events are there, closed database or not
        (record,) = storage.get_logs_for_run(run_id)
        assert record.user_message == f"hello from {run_id}"
    with storage.run_connection("run0") as conn:
        # 1 = NORMAL: no disk flush per commit in Dagster's WAL journal
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    storage.dispose()
    assert storage.__dict__["_engines"] == {}


def test_another_process_sees_events_while_the_writer_keeps_its_connection(tmp_path):
    writer = BatchingSqliteEventLogStorage(base_dir=str(tmp_path))
    reader = BatchingSqliteEventLogStorage(base_dir=str(tmp_path))  # the UI, say
    writer.store_event(_log_line("live", "first"))
    assert [r.user_message for r in reader.get_logs_for_run("live")] == ["first"]
    writer.store_event(_log_line("live", "second"))  # the writer's connection is still open
    assert [r.user_message for r in reader.get_logs_for_run("live")] == ["first", "second"]


def test_a_wipe_closes_the_databases_before_their_files_go(tmp_path: Path) -> None:
    storage = BatchingSqliteEventLogStorage(base_dir=str(tmp_path))
    storage.store_event(_log_line("gone", "before"))
    storage.wipe()
    assert storage.get_logs_for_run("gone") == []
    storage.store_event(_log_line("gone", "after"))  # a new file, not the deleted one
    assert [r.user_message for r in storage.get_logs_for_run("gone")] == ["after"]
    assert (tmp_path / "gone.db").exists()


def test_the_uis_watcher_hears_of_each_event_of_a_run_written_elsewhere(tmp_path: Path):
    # a run worker writes (its connection stays open); the UI watches the run's database file
    worker = BatchingSqliteEventLogStorage(base_dir=str(tmp_path))
    ui = BatchingSqliteEventLogStorage(base_dir=str(tmp_path))
    worker.store_event(_log_line("live", "started"))
    heard: list[str] = []

    def hear(entry: EventLogEntry, _cursor: str) -> None:
        heard.append(entry.user_message)

    ui.watch("live", None, hear)
    try:
        for text in ("one", "two", "three"):
            worker.store_event(_log_line("live", text))
            deadline = time.monotonic() + 10
            while text not in heard and time.monotonic() < deadline:
                time.sleep(0.05)
            assert text in heard, heard  # heard while the run goes on, not at its end
    finally:
        ui.end_watch("live", hear)
        ui.dispose()
        worker.dispose()


def test_a_new_runs_database_is_a_copy_of_an_empty_one_stamped_by_dagster(tmp_path: Path):
    from dagster._core.storage.event_log.sqlite import sqlite_event_log
    from dagster._core.storage.sql import check_alembic_revision, get_alembic_config

    storage = BatchingSqliteEventLogStorage(base_dir=str(tmp_path))
    for run_id in ("first", "second"):
        storage.store_event(_log_line(run_id, f"hello from {run_id}"))
    (empty,) = (tmp_path / ".empty").glob("run-*.db")
    assert empty.name == f"run-{dg.__version__}.db"
    assert sorted(storage.get_all_run_ids()) == ["first", "second"]  # the empty one is no run
    for run_id in ("first", "second"):
        (record,) = storage.get_logs_for_run(run_id)
        assert record.user_message == f"hello from {run_id}"
        with storage.run_connection(run_id) as conn:
            current, head = check_alembic_revision(
                get_alembic_config(sqlite_event_log.__file__), conn
            )
            assert current == head is not None  # the same schema Dagster would have made
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert not list(tmp_path.glob("*.new")) and not list((tmp_path / ".empty").glob("*.new"))


def test_a_run_database_made_elsewhere_is_never_replaced_by_the_empty_copy(tmp_path: Path):
    writer = BatchingSqliteEventLogStorage(base_dir=str(tmp_path))
    writer.store_event(_log_line("shared", "written by another process"))
    writer.dispose()
    # a new process: it has not seen the run's database, which exists on disk
    late = BatchingSqliteEventLogStorage(base_dir=str(tmp_path))
    late.store_event(_log_line("shared", "written later"))
    messages = [r.user_message for r in late.get_logs_for_run("shared")]
    assert messages == ["written by another process", "written later"]
