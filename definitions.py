"""The code location's entry point: `dagster dev`, `dagster job execute -f definitions.py`, ..."""

from pathlib import Path

import dagster as dg

from dataplat_dagster.definitions_builder import build_definitions

PROJECT_ROOT = Path(__file__).resolve().parent


@dg.definitions
def defs() -> dg.Definitions:
    # Built at load time, not import time: DATAPLAT_ENV and the YAML are read on each (re)load.
    return build_definitions(PROJECT_ROOT)
