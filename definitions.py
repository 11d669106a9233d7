"""The code location's entry point: `dagster dev`, `dagster job execute -f definitions.py`, ..."""

from pathlib import Path

import dagster as dg

from dataplat_dagster.definitions_builder import load_definitions

PROJECT_ROOT = Path(__file__).resolve().parent


@dg.definitions
def defs() -> dg.Definitions:
    # Built at load time, not import time: DATAPLAT_ENV and the YAML are read on each (re)load
    # (Dagster calls this twice per load: the second call reuses the first's unchanged result).
    return load_definitions(PROJECT_ROOT)
