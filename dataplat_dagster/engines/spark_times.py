"""Instants and wall-clock times on Spark, by the platform's timestamp rule, in any session zone.

Spark's TimestampType is an instant and TimestampNTZType a wall-clock time. Casting one to
the other uses the session's zone; these conversions name their zone instead, so a step's
result does not depend on where (or in which session zone) the plan runs.
"""

from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

_EPOCH_NTZ = "timestamp_ntz'1970-01-01 00:00:00'"


def utc_wall(instant: Column) -> Column:
    """The wall-clock time (NTZ) an instant shows in UTC."""
    seconds = F.unix_micros(instant).cast("decimal(20,0)") / F.lit(1_000_000)
    return F.expr(_EPOCH_NTZ) + F.make_dt_interval(F.lit(0), F.lit(0), F.lit(0), seconds)


def from_utc_wall(wall: Column) -> Column:
    """The instant whose UTC wall-clock time is `wall`."""
    return F.make_timestamp(
        F.year(wall),
        F.month(wall),
        F.dayofmonth(wall),
        F.hour(wall),
        F.minute(wall),
        F.date_part(F.lit("SECOND"), wall),
        F.lit("UTC"),
    )


def wall_to_instant(wall: Column, zone: str) -> Column:
    """Wall-clock times of `zone` as instants (a repeated hour: its first occurrence)."""
    instant = from_utc_wall(wall)
    return instant if zone == "UTC" else F.to_utc_timestamp(instant, zone)


def instant_to_wall(instant: Column, zone: str) -> Column:
    """The wall-clock time an instant shows in `zone`."""
    return utc_wall(instant if zone == "UTC" else F.from_utc_timestamp(instant, zone))


def instant_text(instant: Column) -> Column:
    """An instant as pandas writes it: `2024-01-01 12:00:00+00:00` (`.ffffff` when set)."""
    return F.concat(wall_text(utc_wall(instant)), F.lit("+00:00"))


def wall_text(wall: Column) -> Column:
    """A wall-clock time as pandas writes it: `2024-01-01 12:00:00` (`.ffffff` when set)."""
    whole = F.date_format(wall, "yyyy-MM-dd HH:mm:ss")
    fraction = F.date_format(wall, "SSSSSS")
    return F.when(fraction == "000000", whole).otherwise(F.concat(whole, F.lit("."), fraction))


def set_session_zone(session: Any, zone: str) -> None:
    """SQL bodies and expressions see the dataflow's zone, as DuckDB's session does."""
    if session.conf.get("spark.sql.session.timeZone") != zone:
        session.conf.set("spark.sql.session.timeZone", zone)
