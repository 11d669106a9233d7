"""The process's one SparkSession: reused by every Spark step of a run and across runs.

Starting a local JVM takes seconds and a Spark Connect session holds server state, so the
session is made once per process and per settings (master or remote, conf, app name).
"""

import threading
from typing import Any

# Spark settings every session gets unless the profile sets them itself:
# - timestamps as Parquet TIMESTAMP_MICROS (not the legacy INT96), which pyarrow reads as
#   timestamp[us, UTC] like the Pandas engine writes, so either engine reads the other's files
# - the session time zone UTC: naive timestamps mean the dataflow's zone, applied explicitly
DEFAULT_CONF: dict[str, str] = {
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.session.timeZone": "UTC",
}

_LOCK = threading.Lock()
_SESSIONS: dict[tuple[Any, ...], Any] = {}


def spark_session(
    *,
    master: str = "local[*]",
    remote: str | None = None,
    conf: dict[str, str] | None = None,
    app_name: str = "dataplat",
) -> Any:
    """The SparkSession for these settings, created on first use and then reused.

    Args:
        master: where a classic session runs (`local[*]`, `yarn`, `spark://host:7077`).
        remote: a Spark Connect endpoint (`sc://host:port`); when set, `master` is ignored.
        conf: Spark's own settings, passed through as they are (over DEFAULT_CONF).
        app_name: the application name shown in the Spark UI.
    """
    settings = {**DEFAULT_CONF, **(conf or {})}
    key = (master, remote, app_name, tuple(sorted(settings.items())))
    with _LOCK:
        session = _SESSIONS.get(key)
        if session is not None and _alive(session):
            return session
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.appName(app_name)
        builder = builder.remote(remote) if remote else builder.master(master)
        for name, value in settings.items():
            builder = builder.config(name, value)
        session = builder.getOrCreate()
        # getOrCreate returns an existing session as it is: its runtime settings follow ours
        for name, value in settings.items():
            if not name.startswith("spark.sql."):
                continue
            session.conf.set(name, value)
        _SESSIONS[key] = session
        return session


def _alive(session: Any) -> bool:
    """False once the session was stopped (a test or a user called `stop()`)."""
    try:
        session.conf.get("spark.app.name")
    except Exception:
        return False
    return True


def spark_ui_url(session: Any) -> str | None:
    """The Spark UI address of a classic session; None on Spark Connect (the server has it)."""
    try:
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        if isinstance(session, ConnectSession):
            return None
    except ImportError:  # pyspark without its Connect extras: every session is classic
        pass
    try:
        return session.sparkContext.uiWebUrl  # None when spark.ui.enabled is false
    except Exception:
        return None
