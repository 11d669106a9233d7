"""The columns derived from the declarations are the columns the engine writes.

Load-time column checks (config/columns.py) apply steps and SQL symbolically; this runs the
demo for one window on the real local resources and compares, for every raw, staging,
common and business table whose columns are known, the names (in order) and types of the
Parquet written with what the plan derived.
"""

from pathlib import Path

import pyarrow.fs as pa_fs

from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import build_plan
from dataplat_dagster.resources.storage import TableStorage
from dataplat_dagster.types import declared_type
from tests.conftest import PROJECT_ROOT, run_demo


def test_derived_columns_match_the_written_tables(demo_defs, instance, local_env: Path) -> None:
    assert run_demo(demo_defs, instance, ["2024-01-03"]).success
    storage = TableStorage(
        pa_fs.LocalFileSystem(), str(local_env / "warehouse"), "file://", atomic_rename=True
    )
    plan = build_plan(load_project(PROJECT_ROOT, "local").dataflows)
    compared = []
    for table in plan:
        if table.layer not in ("raw", "staging", "common", "business"):
            continue
        assert table.columns is not None
        if not table.columns.complete:
            continue  # a Python transform's columns are not known before it runs
        key = "2024-01-03" if table.partitioned else None
        written, _ = storage.read(table.id.key_path, [key])
        derived = [(name, declared_type(kind)) for name, kind in table.columns.types.items()]
        actual = [(field.name, declared_type(field.type)) for field in written.schema]
        assert actual == derived, table.id
        compared.append(table.id.name)
    assert len(compared) == 9  # every table but the Python transform customer_value
