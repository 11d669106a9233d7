"""User code next to definitions.py: `python:` and `custom:` dotted paths into the project.

Covers `config/user_code.py` through load_project/build_plan in this process: a module
written at the project root is imported (the root goes on sys.path when the project loads),
and the errors for a module that is not there (naming the modules that are), a module that
fails to import (its own error) and a missing function (naming those it has), each at the
file, field and line. Module names are unique per test: Python caches imported modules.
The same from `dataplat`, `dagster job execute` and `dagster dev` subprocesses is in
tests/test_user_project.py and tests/e2e.
"""

import uuid
from pathlib import Path

import pytest

from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import TableId, build_plan
from tests.config.declarations import FILE, TOTALS_SQL, failure, line_at, variant
from tests.conftest import write_project


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))


@pytest.fixture
def module() -> str:
    return f"shop_transforms_{uuid.uuid4().hex[:8]}"


def python_table(dotted: str) -> str:
    return variant(TOTALS_SQL, f"from: common.orders\n    python: {dotted}")


CODE = (
    "import pandas as pd\n\n\ndef top(orders: pd.DataFrame) -> pd.DataFrame:\n    return orders\n"
)


def test_a_module_next_to_definitions_py_is_imported(tmp_path: Path, module: str) -> None:
    root = write_project(
        tmp_path, {"shop": python_table(f"{module}.top")}, files={f"{module}.py": CODE}
    )
    plan = build_plan(load_project(root, "local").dataflows)
    function = plan[TableId("shop", "business", "totals")].python
    assert function is not None and function.__module__ == module and function.__name__ == "top"


def test_a_custom_rule_function_next_to_definitions_py_is_imported(
    tmp_path: Path, module: str
) -> None:
    code = "def balanced(frame, **params) -> bool:\n    return True\n"
    rule = f"    rules: [{{custom: {{function: {module}.balanced}}}}]\n"
    text = variant("    from: staging.orders\n", f"    from: staging.orders\n{rule}")
    root = write_project(tmp_path, {"shop": text}, files={f"{module}.py": code})
    plan = build_plan(load_project(root, "local").dataflows)
    assert plan[TableId("shop", "common", "orders")].rule_functions[0].__name__ == "balanced"


def test_a_missing_module_names_the_modules_next_to_definitions_py(
    tmp_path: Path, module: str
) -> None:
    text = python_table(f"{module}x.top")
    message = failure(tmp_path, text, files={f"{module}.py": CODE, "helpers/__init__.py": ""})
    assert f"{FILE}, line {line_at(text, 'python:')}: business.totals.python: " in message
    assert f"cannot import module {module}x: No module named '{module}x'" in message
    assert "user code goes next to definitions.py in" in message
    assert f"(modules there: helpers, {module})" in message


def test_a_module_failing_to_import_shows_its_own_error(tmp_path: Path, module: str) -> None:
    text = python_table(f"{module}.top")
    message = failure(tmp_path, text, files={f"{module}.py": "def top(:\n"})
    assert f"{FILE}, line {line_at(text, 'python:')}: business.totals.python: " in message
    assert f"importing module {module} failed: SyntaxError(" in message


def test_a_missing_function_names_the_functions_of_the_module(tmp_path: Path, module: str) -> None:
    text = python_table(f"{module}.tpo")
    message = failure(tmp_path, text, files={f"{module}.py": CODE})
    assert f"business.totals.python: module {module} has no function tpo (it has: top)" in message
