"""Great Expectations' built-in expectation names, known without importing GE (seconds)."""

import functools
import importlib.util
from pathlib import Path


@functools.cache
def core_expectation_types() -> frozenset[str]:
    """Names of GE's built-in expectations, read from its package files without importing GE."""
    spec = importlib.util.find_spec("great_expectations")
    if spec is None or spec.origin is None:
        return frozenset()
    return frozenset(
        path.stem
        for path in (Path(spec.origin).parent / "expectations" / "core").glob("expect_*.py")
    )
