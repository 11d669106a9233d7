"""Landing assets: observable sources that record what each window's files are.

Observes the demo's landing folder (a temporary copy) in process, through the asset the UI's
Observe button runs; the observations the sensors and raw record are in their own tests.
"""

from pathlib import Path

import dagster as dg

ORDERS = dg.AssetKey(["landing", "retail", "orders"])
CUSTOMERS = dg.AssetKey(["landing", "retail", "customers"])


def observe(definitions: dg.Definitions, key: dg.AssetKey, instance, **kwargs):
    job = definitions.resolve_implicit_job_def_def_for_assets([key])
    assert job is not None
    return job.execute_in_process(instance=instance, asset_selection=[key], **kwargs)


def test_landing_assets_are_observable_not_never_materialized(demo_defs: dg.Definitions) -> None:
    graph = demo_defs.resolve_asset_graph()
    assert graph.get(ORDERS).is_observable and graph.get(CUSTOMERS).is_observable
    assert graph.get(ORDERS).partitions_def is not None
    assert graph.get(ORDERS).owners == ["team:retail-analytics"]


def test_observing_a_window_records_its_files(
    demo_defs: dg.Definitions, instance, landing_copy: Path
) -> None:
    result = observe(demo_defs, ORDERS, instance, partition_key="2024-01-03")
    assert result.success
    records = instance.fetch_observations(ORDERS, limit=10).records
    window = next(r.asset_observation for r in records if "files" in r.asset_observation.metadata)
    assert window.partition == "2024-01-03"
    (entry,) = window.metadata["files"].value
    size = (landing_copy / "retail" / "orders_20240103.csv").stat().st_size
    assert entry.startswith(f"retail/orders_20240103.csv@{size}-")
    assert window.metadata["bytes"].value == size
    assert window.metadata["dagster/uri"].value.endswith("retail/orders_20240103.csv")


def test_a_new_file_version_changes_the_observed_data_version(
    demo_defs: dg.Definitions, instance, landing_copy: Path
) -> None:
    def version() -> str:
        observe(demo_defs, CUSTOMERS, instance)
        records = instance.fetch_observations(CUSTOMERS, limit=5).records
        return next(
            r.asset_observation.tags["dagster/data_version"]
            for r in records
            if "files" in r.asset_observation.metadata
        )

    first = version()
    assert version() == first  # same files, same version
    path = landing_copy / "retail" / "customers.csv"
    path.write_text(path.read_text() + "99,Zed,zed@example.com,FR,01/01/2024\n")
    assert version() != first
