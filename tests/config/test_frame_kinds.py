"""A Python function's annotations say which engine's frames it takes, and its table follows.

Loads and plans declarations only: no SparkSession is started.
"""

from pathlib import Path

import pytest

from dataplat_dagster.config.errors import DeclarationError
from dataplat_dagster.config.frame_kinds import frame_kind
from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import TableId, build_plan
from tests.config.declarations import TOTALS_SQL, line_at, variant
from tests.conftest import write_project

CODE = """\
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # never imported at runtime: the annotation is read as text
    from pyspark.sql import Column, DataFrame


def pandas_totals(orders: pd.DataFrame) -> pd.DataFrame:
    return orders.groupby("currency", as_index=False).size()


def spark_totals(orders: DataFrame) -> DataFrame:
    return orders.groupBy("currency").count()


def any_totals(orders):
    return orders


def pandas_rule(frame: pd.DataFrame) -> pd.Series:
    return frame["amount"] > 0


def spark_rule(frame: DataFrame) -> Column:
    return frame["amount"] > 0
"""


def _engines(root: Path) -> dict[str, str]:
    plan = build_plan(load_project(root, "local").dataflows)
    return {f"{t.layer}.{t.id.name}": t.spec.engine for t in plan if t.layer != "landing"}


def _project(root: Path, module: str, text: str, on_spark: bool = True) -> Path:
    """The shop dataflow with its functions in `module` (one name per test: imports are cached)."""
    write_project(root, {"shop": text.replace("CODE.", f"{module}.")})
    (root / f"{module}.py").write_text(CODE)
    if on_spark:
        local = root / "resources" / "local.yaml"
        local.write_text(local.read_text() + "engine: spark\n")
    return root


def _totals(function: str) -> str:
    return variant(TOTALS_SQL, f"python: CODE.{function}\n    from: [common.orders]")


def test_pandas_annotations_keep_an_inherited_spark_table_on_pandas(tmp_path: Path) -> None:
    engines = _engines(_project(tmp_path, "kinds_inherited", _totals("pandas_totals")))
    assert engines["business.totals"] == "pandas"
    assert engines["common.orders"] == "spark"  # the others keep the profile's engine


def test_spark_annotations_and_unannotated_functions_follow_spark(tmp_path: Path) -> None:
    assert (
        _engines(_project(tmp_path / "a", "kinds_spark", _totals("spark_totals")))[
            "business.totals"
        ]
        == "spark"
    )
    assert (
        _engines(_project(tmp_path / "b", "kinds_any", _totals("any_totals")))["business.totals"]
        == "spark"
    )
    # on the Pandas profile a Spark-annotated transform takes its table to Spark
    on_pandas = _project(tmp_path / "c", "kinds_to_spark", _totals("spark_totals"), False)
    assert _engines(on_pandas)["business.totals"] == "spark"


def test_a_custom_rule_annotated_for_pandas_keeps_its_table_on_pandas(tmp_path: Path) -> None:
    text = variant(
        "  orders:\n    from: staging.orders\n",
        "  orders:\n    from: staging.orders\n    rules:\n"
        "      - custom: {function: CODE.pandas_rule}\n",
    )
    assert _engines(_project(tmp_path, "kinds_rule", text))["common.orders"] == "pandas"


def test_a_table_declaring_an_engine_its_function_does_not_take_fails_at_load(
    tmp_path: Path,
) -> None:
    text = variant(
        TOTALS_SQL, "python: CODE.pandas_totals\n    from: [common.orders]\n    engine: spark"
    )
    root = _project(tmp_path, "kinds_explicit", text, on_spark=False)
    with pytest.raises(DeclarationError) as caught:
        build_plan(load_project(root, "local").dataflows)
    line = line_at(text, "    engine: spark")
    assert (
        f"assets/shop/dataflow.yaml, line {line}: business.totals.engine: engine spark, but "
        "kinds_explicit.pandas_totals is annotated with pandas types: declare `engine: pandas` "
        "or write the function for spark"
    ) in str(caught.value)


def test_functions_written_for_different_engines_fail_at_load(tmp_path: Path) -> None:
    text = variant(
        "  orders:\n    from: staging.orders\n",
        "  orders:\n    from: staging.orders\n    python: CODE.spark_totals\n    rules:\n"
        "      - custom: {function: CODE.pandas_rule}\n",
    )
    root = _project(tmp_path, "kinds_mixed", text)
    with pytest.raises(DeclarationError) as caught:
        build_plan(load_project(root, "local").dataflows)
    assert "common.orders: its functions are written for different engines: " in str(caught.value)
    assert "kinds_mixed.spark_totals (spark), kinds_mixed.pandas_rule (pandas)" in str(caught.value)


def test_annotations_inside_containers_and_optionals_count() -> None:
    import pandas as pd

    def by_name(frames: dict[str, pd.DataFrame], limit: int | None = None) -> pd.DataFrame | None:
        return None

    def untyped(frame, limit: int = 3):
        return frame

    assert frame_kind(by_name) == "pandas"
    assert frame_kind(untyped) is None
    assert TableId("shop", "business", "totals")  # the id the messages above name
