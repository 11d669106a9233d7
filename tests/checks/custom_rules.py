"""Custom rule functions referenced from the test dataflows by dotted path (not a test module)."""

import pandas as pd


def has_rows(frame: pd.DataFrame, minimum: int = 1) -> bool:
    """A table verdict as a plain bool."""
    return len(frame) >= minimum


def total_quantity(frame: pd.DataFrame, limit: int = 100) -> dict:
    """A table verdict with metadata."""
    total = int(frame["quantity"].sum())
    return {"passed": total <= limit, "metadata": {"total_quantity": total, "limit": limit}}


def code_has_prefix(frame: pd.DataFrame, prefix: str = "AB-") -> pd.Series:
    """A row mask: True marks a row that passes."""
    return frame["code"].astype("string").str.startswith(prefix)
