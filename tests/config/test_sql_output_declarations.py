"""Declarations of SQL outputs: `columns` and `on_schema_change`, valid and invalid.

Each mistake is one change to the valid BASE dataflow plus an output, and fails at load with
the file, the line, the field and the reason. Nothing here reads data or runs Dagster.
"""

from pathlib import Path

import pyarrow as pa
import pytest

from dataplat_dagster.config.loader import load_project
from dataplat_dagster.sql_types import SqlTypeError, declared_arrow_type
from tests.config.declarations import BASE, FILE, failure, line_at, variant
from tests.conftest import write_project

OUTPUT = """
output:
  totals_table:
    from: business.totals
    format: sql
    database: reporting
    table: totals
    columns: {n: int64, note: {type: string, nullable: false}, amount: "decimal(12,2)"}
    on_schema_change: add_columns
"""
P = pytest.param


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))


def test_declared_columns_and_schema_change_load(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, {"shop": BASE + OUTPUT}), "local")
    (dataflow,) = project.dataflows
    spec = dataflow.spec.output["totals_table"]
    assert {name: (c.type, c.nullable) for name, c in spec.columns.items()} == {
        "n": ("int64", True),
        "note": ("string", False),
        "amount": ("decimal(12,2)", True),
    }
    assert spec.on_schema_change == "add_columns"


def test_schema_change_defaults_to_fail(tmp_path: Path) -> None:
    text = BASE + OUTPUT.replace("    on_schema_change: add_columns\n", "")
    (dataflow,) = load_project(write_project(tmp_path, {"shop": text}), "local").dataflows
    assert dataflow.spec.output["totals_table"].on_schema_change == "fail"


@pytest.mark.parametrize(
    ("old", "new", "field", "needle", "reasons"),
    [
        P("n: int64,", "n: integer,", "output.totals_table.columns.n.type", "    columns:",
          ["unknown type 'integer'", "timestamptz", "decimal(P,S)"], id="unknown_type"),
        P('"decimal(12,2)"', '"decimal(40,2)"', "output.totals_table.columns.amount.type",
          "    columns:", ["precision must be 1..38"], id="decimal_too_wide"),
        P("add_columns", "drop_columns", "output.totals_table.on_schema_change",
          "    on_schema_change:", ["'fail'", "'add_columns'"], id="unknown_schema_change"),
        P("n: int64,", "_partition: string,", "output.totals_table", "  totals_table:",
          ["_partition is the window column the output adds itself"], id="partition_declared"),
        P("format: sql\n    database: reporting\n    table: totals\n", "format: csv\n",
          "output.totals_table", "  totals_table:", ["only apply to format sql, not csv"],
          id="columns_on_a_file_output"),
    ],
)  # fmt: skip
def test_mistakes_name_file_line_field_and_reason(
    tmp_path: Path, old: str, new: str, field: str, needle: str, reasons: list[str]
) -> None:
    text = variant(old, new, BASE + OUTPUT)
    message = failure(tmp_path, text)
    assert f"{FILE}, line {line_at(text, needle)}: {field}: " in message, message
    for reason in reasons:
        assert reason in message, message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("int32", pa.int32()),
        ("timestamp", pa.timestamp("us", tz="UTC")),  # an instant (the platform's rule)
        ("timestamp_ntz", pa.timestamp("us")),  # a wall-clock time
        ("timestamptz", pa.timestamp("us", tz="UTC")),  # the SQL spelling of an instant
        ("decimal( 38 , 0 )", pa.decimal128(38, 0)),
    ],
)
def test_declared_type_names_map_to_arrow(name: str, expected: pa.DataType) -> None:
    assert declared_arrow_type(name) == expected


def test_a_scale_beyond_the_precision_is_refused() -> None:
    with pytest.raises(SqlTypeError, match="scale at most precision"):
        declared_arrow_type("decimal(4,5)")
