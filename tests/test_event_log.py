"""The batching SQLite event log: a range run's windows recorded as Dagster's own storage would."""

import shutil
from pathlib import Path

import dagster as dg
import pytest

from dataplat_dagster.event_log import BatchingSqliteEventLogStorage, enable_event_batches

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
