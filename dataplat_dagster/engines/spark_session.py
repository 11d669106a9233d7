"""Facts about the process's SparkSession that runs report (SparkEngine.session() makes it).

The session itself is created once per process and settings by `SparkEngine.session()`
(engines/spark_engine.py) and reused by every Spark step of a run and across runs.
"""

from typing import Any


def spark_ui_url(session: Any) -> str | None:
    """The Spark UI address of a classic session; None on Spark Connect (the server has it)."""
    try:
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        if isinstance(session, ConnectSession):
            return None
    except ImportError:  # pyspark without its Connect extras: every session is classic
        pass
    try:
        # the one use of sparkContext: classic sessions only, and only to read the UI address
        return session.sparkContext.uiWebUrl  # None when spark.ui.enabled is false
    except Exception:
        return None
