"""Quality rules on TPC-H lineitem: their cost inside the staging step, and as a GE suite.

Runs the platform's staging step for lineitem (all 84 months in one run) several times and
reports the step's wall time beside the time its quality gate took (unique key, two ranges,
accepted values, a ratio expression, a count audit: the rule set of BENCH.md). Then it runs
the same rules as a Great Expectations 1.x suite over the same rows.

    python bench/rules.py --sf 1 --runs 3
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg
import pyarrow.fs as pa_fs

from bench.common import bench_project, median, timed, tpch_data

GE_SUITE = [
    {
        "type": "expect_compound_columns_to_be_unique",
        "kwargs": {"column_list": ["l_orderkey", "l_linenumber"]},
    },
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "l_quantity", "min_value": 1, "max_value": 50},
    },
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "l_discount", "min_value": 0, "max_value": 0.10},
    },
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "l_returnflag", "value_set": ["A", "N", "R"]},
    },
    {
        "type": "expect_column_pair_values_a_to_be_greater_than_b",
        "kwargs": {
            "column_A": "l_receiptdate",
            "column_B": "l_shipdate",
            "or_equal": True,
            "mostly": 0.99,
        },
    },
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sf", type=float, default=1.0, help="TPC-H scale factor")
    parser.add_argument("--runs", type=int, default=3, help="measured runs after a warm-up")
    args = parser.parse_args()
    landing = tpch_data(args.sf)
    state = Path(tempfile.mkdtemp(prefix="dataplat-bench-rules-"))
    os.environ.update(
        {
            "DATAPLAT_HOME": str(state),
            "DATAPLAT_LANDING_ROOT": str(landing),
            "DATAPLAT_ENV": "local",
        }
    )
    from dataplat_dagster.definitions_builder import build_definitions

    definitions = build_definitions(bench_project(state / "project", "tpch"))
    job = definitions.resolve_job_def("tpch_lineitem_job")
    keys = job.partitions_def.get_partition_keys()
    tags = {
        "dagster/asset_partition_range_start": keys[0],
        "dagster/asset_partition_range_end": keys[-1],
    }
    instance = dg.DagsterInstance.ephemeral()
    raw = [
        dg.AssetKey(["raw", "tpch", "lineitem"]),
        dg.AssetKey(["raw", "tpch", "lineitem__quarantine"]),
    ]
    assert job.execute_in_process(instance=instance, tags=tags, asset_selection=raw).success
    staging = [
        dg.AssetKey(["staging", "tpch", "lineitem"]),
        dg.AssetKey(["staging", "tpch", "lineitem__quarantine"]),
    ]
    steps, checks = [], []
    for run in range(args.runs + 1):
        result = job.execute_in_process(instance=instance, tags=tags, asset_selection=staging)
        assert result.success
        (success,) = [
            e for e in result.all_events if e.event_type_value == "STEP_SUCCESS"
        ]  # one step: staging
        metadata = next(
            e.step_materialization_data.materialization.metadata
            for e in result.all_events
            if e.is_step_materialization
        )
        failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
        assert not failed, f"checks failed on clean data: {failed}"
        if run:  # the first run warms caches and imports
            steps.append(success.event_specific_data.duration_ms / 1000)
            checks.append(metadata["checks_seconds"].value)
        print(
            f"run {run}: staging step {success.event_specific_data.duration_ms / 1000:.2f}s, rules {metadata['checks_seconds'].value:.2f}s",
            flush=True,
        )
    ge = _great_expectations(state, keys, args.runs)
    print()
    print(
        f"TPC-H scale factor {args.sf:g}, lineitem, {len(keys)} monthly windows, medians of {args.runs} runs"
    )
    print(
        f"  staging step (read raw, cast/trim/dedupe/drop nulls, rules, write): {median(steps):8.2f} s"
    )
    print(
        f"  of which the rule set (platform, vectorised pandas):                {median(checks):8.2f} s  ({median(checks) / median(steps):.1%} of the step)"
    )
    print(
        f"  the same rules as a Great Expectations suite (whole table, pandas): {median(ge):8.2f} s  ({median(ge) / median(checks):.1f}x the platform)"
    )


def _great_expectations(state: Path, keys: list[str], runs: int) -> list[float]:
    from dataplat_dagster.checks.great_expectations import _batch_definition, _suite
    from dataplat_dagster.engines.pandas_engine import PandasEngine
    from dataplat_dagster.resources.storage import TableStorage

    storage = TableStorage(
        pa_fs.LocalFileSystem(), str(state / "warehouse"), "file://", atomic_rename=True
    )
    table, _ = storage.read(["staging", "tpch", "lineitem"], keys)
    frame = PandasEngine().from_arrow(table)
    suite = _suite([{**item, "meta": {}} for item in GE_SUITE])
    batch_definition = _batch_definition()
    times = []
    for run in range(runs + 1):
        seconds, result = timed(
            lambda: batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(
                suite
            )
        )
        assert result.success, [r.expectation_config.type for r in result.results if not r.success]
        print(f"GE run {run}: {seconds:.2f}s", flush=True)
        if run:
            times.append(seconds)
    return times


if __name__ == "__main__":
    main()
