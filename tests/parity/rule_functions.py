"""Custom rule functions for the parity tests, written for both engines (not a test module).

On Pandas a row rule returns a boolean Series, on Spark a boolean Column (True = passes).
"""

from typing import Any

import pandas as pd


def code_has_prefix(frame: Any, prefix: str = "AB-") -> Any:
    if isinstance(frame, pd.DataFrame):
        return frame["code"].astype("string").str.startswith(prefix)
    from pyspark.sql import functions as F

    return F.col("code").startswith(prefix)


def has_rows(frame: Any, minimum: int = 1) -> dict[str, Any]:
    rows = len(frame) if isinstance(frame, pd.DataFrame) else frame.count()
    return {"passed": rows >= minimum, "metadata": {"rows": rows}}
