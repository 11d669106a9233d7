"""Python transforms used by tests/test_operations.py (referenced by dotted path in YAML)."""

from pathlib import Path

import pandas as pd


def fails_once(orders: pd.DataFrame, marker: str) -> pd.DataFrame:
    """Fails with a transient error the first time (no marker file yet), then passes."""
    flag = Path(marker)
    if not flag.exists():
        flag.write_text("failed once")
        raise ConnectionResetError("the storage dropped the connection (simulated)")
    return orders


def always_broken(orders: pd.DataFrame) -> pd.DataFrame:
    """A transform with a bug: a permanent error."""
    raise ValueError("column 'amount' has an unexpected type (simulated bug)")


def as_given(orders: pd.DataFrame) -> pd.DataFrame:
    """The input unchanged: its columns are known only when it runs (schema drift tests)."""
    return orders
