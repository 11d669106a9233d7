"""The retail demo end to end on Spark, and with one table on Spark, against Pandas.

The repo's declarations and demo landing files, unchanged; only the profile says
`engine: spark` (or the one table says it). Each table's published rows, per window, read
back from the warehouse, must equal the Pandas run's, and so must the quarantine and the
check results. Local disk and the test session's SparkSession; no S3.
"""

import shutil
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.fs as pa_fs
import pytest

from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import build_plan
from dataplat_dagster.definitions_builder import build_definitions
from dataplat_dagster.resources.storage import TableStorage
from tests.conftest import PROJECT_ROOT, run_demo
from tests.engines.spark_fixtures import TEST_CONF

pytestmark = pytest.mark.spark

# a window whose ERROR gate closes (05) and two with quarantined landing rows (06, 07)
WINDOWS = ["2024-01-05", "2024-01-06", "2024-01-07"]
VOLATILE = ("_load_ts", "_run_id")  # when and by which run: differ between any two runs
SPARK_PROFILE = (
    "engine: spark\nspark:\n  master: local[2]\n  app_name: dataplat-tests\n  conf:\n"
    + "".join(f"    {name}: {value!r}\n" for name, value in TEST_CONF.items())
)


# Tables the Spark run keeps on Pandas with no change to the declarations: their Python code
# (a custom rule, a transform) is annotated with pandas types, so they run on Pandas. The mix
# of engines in one run is part of what is tested.
ON_PANDAS = {"business.daily_revenue", "business.customer_value"}


def _project(root: Path, profile_extra: str = "", edits: list[tuple[str, str]] = ()) -> Path:
    shutil.copytree(PROJECT_ROOT / "resources", root / "resources")
    shutil.copytree(PROJECT_ROOT / "assets", root / "assets")
    if profile_extra:
        local = root / "resources" / "local.yaml"
        local.write_text(local.read_text() + profile_extra)
    path = root / "assets" / "retail" / "dataflow.yaml"
    text = path.read_text()
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(text)
    return root


def _engine(description: str, engine: str) -> tuple[str, str]:
    line = f"    description: {description}\n"
    return line, f"{line}    engine: {engine}\n"


def _run(
    root: Path,
    state: Path,
    landing: Path,
    monkeypatch: pytest.MonkeyPatch,
    windows: list[str] = WINDOWS,
) -> tuple[dg.ExecuteInProcessResult, TableStorage]:
    monkeypatch.setenv("DATAPLAT_ENV", "local")
    monkeypatch.setenv("DATAPLAT_HOME", str(state))
    monkeypatch.setenv("DATAPLAT_LANDING_ROOT", str(landing))
    with dg.instance_for_test() as instance:
        result = run_demo(build_definitions(root), instance, windows, raise_on_error=False)
    storage = TableStorage(
        pa_fs.LocalFileSystem(), str(state / "warehouse"), "file://", atomic_rename=True
    )
    return result, storage


def _rows(storage: TableStorage, key_path: list[str], window: str | None) -> list[dict]:
    table, _ = storage.read(key_path, [window], missing_ok=True)
    table = table.drop_columns([c for c in VOLATILE if c in table.column_names])
    for index, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(
                index, field.name, table[field.name].cast(field.type.value_type)
            )
    return sorted((dict(sorted(r.items())) for r in table.to_pylist()), key=repr)


def _checks(
    result: dg.ExecuteInProcessResult, windows: list[str]
) -> dict[tuple[str, str, str | None], bool]:
    return {
        (e.asset_key.to_user_string(), e.check_name, e.partition): e.passed
        for e in result.get_asset_check_evaluations()
        if e.partition in (*windows, None)
    }


def _tables(storage: TableStorage) -> list[list[str]]:
    return [
        [layer, "retail", table]
        for layer in ("raw", "staging", "common", "business", "output")
        for table in sorted(storage.subfolders(f"{storage.base}/{layer}/retail"))
    ]


@pytest.fixture(scope="module")
def pandas_run(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("pandas")
    landing = base / "landing"
    shutil.copytree(PROJECT_ROOT / "demo" / "landing", landing)
    with pytest.MonkeyPatch.context() as monkeypatch:
        result, storage = _run(_project(base / "project"), base / "state", landing, monkeypatch)
    return result, storage, landing


def _same_as_pandas(pandas_run, result, storage, windows: list[str] = WINDOWS) -> None:
    expected_result, expected, _ = pandas_run
    tables = _tables(expected)
    failures = [e.step_failure_data.error.message for e in result.get_step_failure_events()]
    expected_failures = [
        e.step_failure_data.error.message for e in expected_result.get_step_failure_events()
    ]
    assert len(failures) == len(expected_failures), failures
    assert tables == _tables(storage)
    assert ["raw", "retail", "orders__quarantine"] in tables
    for key_path in tables:
        for window in windows:
            assert _rows(storage, key_path, window) == _rows(expected, key_path, window), (
                key_path,
                window,
            )
    assert _checks(result, windows) == _checks(expected_result, windows)


def test_the_demo_on_spark_publishes_what_pandas_publishes(
    pandas_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spark
) -> None:
    _, _, landing = pandas_run
    root = _project(tmp_path / "project", SPARK_PROFILE)
    plan = build_plan(load_project(root, "local").dataflows)
    engines = {f"{t.layer}.{t.id.name}": t.spec.engine for t in plan if t.layer != "landing"}
    assert {name for name, engine in engines.items() if engine == "pandas"} == ON_PANDAS

    result, storage = _run(root, tmp_path / "state", landing, monkeypatch)

    _same_as_pandas(pandas_run, result, storage)
    quarantine = _rows(storage, ["raw", "retail", "orders__quarantine"], "2024-01-06")
    assert [r["_dq_reason"] for r in quarantine] == [
        "retail/orders_20240106.csv line 18: ordered_at: '2024-13-45T10:00:00' is not a valid timestamp"
    ]
    written = storage.manifest(["staging", "retail", "orders"], "2024-01-06")
    assert written.files and all(
        f.startswith(f"{written.version_folder}/part-") for f in written.files
    )


def test_one_table_on_spark_between_pandas_tables(
    pandas_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spark
) -> None:
    _, _, landing = pandas_run
    root = _project(
        tmp_path / "project",
        edits=[_engine("Orders cleaned, one row per order, test orders removed.", "spark")],
    )

    result, storage = _run(root, tmp_path / "state", landing, monkeypatch, ["2024-01-06"])

    _same_as_pandas(pandas_run, result, storage, ["2024-01-06"])
    # Spark names its files part-<n>-<uuid>.c000.snappy.parquet, pyarrow part-<write id>.parquet
    spark_files = storage.manifest(["staging", "retail", "orders"], "2024-01-06").files
    pandas_files = storage.manifest(["raw", "retail", "orders"], "2024-01-06").files
    assert spark_files and all(f.endswith(".snappy.parquet") for f in spark_files)
    assert pandas_files and not any(f.endswith(".snappy.parquet") for f in pandas_files)
