"""How declared tables are operated: retries, file-arrival sensors, schedules, backfills."""

from typing import Any, Literal

from pydantic import Field, model_validator

from dataplat_dagster.config.base import Duration, StrictModel


class RetrySpec(StrictModel):
    """Retries of transient failures (permanent ones, such as bad input, are never retried)."""

    max_retries: int = Field(2, ge=0, le=20)
    delay: Duration = Field(10, description="wait before the first retry")
    backoff: Literal["exponential", "linear", "none"] = "exponential"
    jitter: Literal["full", "plus_minus", "none"] = "plus_minus"


class SensorSpec(StrictModel):
    """The file-arrival sensor of a landing source."""

    enabled: bool = Field(True, description="running when the code location loads")
    interval: Duration = Field(30, description="time between two looks at the landing area")
    overlap: Duration = Field(
        300, description="files this much older than the newest seen are looked at again"
    )
    max_files_per_tick: int = Field(
        1000, ge=1, description="a larger listing continues over several ticks"
    )


class ScheduleSpec(StrictModel):
    """When the dataflow runs on its own: the eligible windows not built yet (or whose source changed)."""

    cron: str = Field(description="cron expression of the ticks")
    timezone: str | None = Field(None, description="default: the partitioning's timezone")
    lookback: int = Field(
        3, ge=1, description="how many of the latest eligible windows each tick considers"
    )
    enabled: bool = True

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"cron": value} if isinstance(value, str) else value


class BackfillSpec(StrictModel):
    """How a range of windows runs: one run (the default), or runs of at most N windows."""

    max_windows_per_run: int | None = Field(None, ge=1)
