"""Pydantic models of a dataflow declaration (`assets/<dataflow>/dataflow.yaml`)."""

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from dataplat_dagster.config.base import Duration, Name, StrictModel, as_list
from dataplat_dagster.config.extracted import HttpSource, SqlSource
from dataplat_dagster.config.operations import BackfillSpec, RetrySpec, ScheduleSpec, SensorSpec
from dataplat_dagster.config.rules import QuarantinePolicy, Rule, expand_not_null
from dataplat_dagster.config.schema import TIMESTAMP_TYPES, TableSchema, check_timezone
from dataplat_dagster.config.sql_columns import SchemaChange, SqlColumns
from dataplat_dagster.config.steps import Step

Layer = Literal["landing", "raw", "staging", "common", "business", "output"]
LAYERS: tuple[Layer, ...] = ("landing", "raw", "staging", "common", "business", "output")
GRANULARITIES = ("hourly", "daily", "weekly", "monthly")

_REF = re.compile(
    r"^(?:(?P<dataflow>[a-z][a-z0-9_]*)\.)?(?P<layer>[a-z]+)\.(?P<table>[a-z][a-z0-9_]*)$"
)
_OWNER = re.compile(r"^(team:[A-Za-z0-9_.-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")
_EVERY = re.compile(r"^(\d+)(m|h)$")
PARTITION_COLUMN = "_partition"  # engines.base.PARTITION, the window key of each row
_TABLE_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def is_owner(value: str) -> bool:
    return bool(_OWNER.match(value))


def check_owners(owners: list[str]) -> list[str]:
    for owner in owners:
        if not is_owner(owner):
            raise ValueError(f"owner {owner!r} must be an email address or team:<name>")
    return owners


def check_ref(value: str) -> str:
    match = _REF.match(value)
    if not match or match.group("layer") not in LAYERS:
        raise ValueError(
            f"{value!r} is not a table reference; write <layer>.<table> or "
            f"<dataflow>.<layer>.<table> with layer one of {', '.join(LAYERS)}"
        )
    return value


def _check_table_name(name: str) -> str:
    if not _TABLE_NAME.match(name):
        raise ValueError(
            "a table name is lower_snake_case (letters, digits, single underscores); "
            "'__' is reserved for companion tables such as <table>__quarantine"
        )
    return name


TableName = Annotated[str, AfterValidator(_check_table_name)]
TableRefText = Annotated[str, Field(description="<layer>.<table> or <dataflow>.<layer>.<table>")]


class TableBase(StrictModel):
    """Parameters every table has; unset ones come from the defaults chain."""

    description: str | None = Field(None, description="shown in the Dagster UI")
    owners: list[str] = Field(default_factory=list, description="emails or team:<name>")
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("owners")
    @classmethod
    def _owners(cls, owners: list[str]) -> list[str]:
        return check_owners(owners)


class CsvOptions(StrictModel):
    delimiter: str = Field(",", min_length=1, max_length=1)
    header: bool = True
    quote: str = Field('"', min_length=1, max_length=1)
    encoding: str = "utf-8"
    null_values: list[str] = Field(default_factory=lambda: ["", "NULL", "null", "NA", "N/A"])
    newlines_in_values: bool = Field(
        False,
        description="quoted values may hold line breaks (else a quote left open at the end of "
        "a line quarantines that line alone)",
    )


class LandingSource(TableBase):
    """Files that arrive in the landing area, read with an explicit schema (no inference)."""

    path: str = Field(
        description="pattern relative to the file-store root; {date:%Y%m%d} gives the window, * any text"
    )
    format: Literal["csv", "jsonl", "parquet"] = "csv"
    schema_: TableSchema = Field(alias="schema", min_length=1)
    csv: CsvOptions = CsvOptions()
    partition_column: str | None = Field(
        None,
        description="date/timestamp column that assigns rows to windows (one file, many "
        "windows); with {date} in the path, the column each row is checked against its file's window",
    )
    outside_window: Literal["quarantine", "route"] | None = Field(
        None,
        description="{date} path with a partition_column: a row dated outside its file's window "
        "is quarantined (default), or routed to its own window when the run covers it",
    )
    partitioned: bool | None = Field(None, description="false: a dimension read whole every run")
    sensor: SensorSpec = Field(default_factory=SensorSpec, description="the file-arrival sensor")
    if_missing: Literal["fail", "skip"] = Field(
        "fail", description="a window without a file: fail the run, or build it from no rows"
    )
    partitioning: "Partitioning | None" = Field(
        None, description="overrides the dataflow's partitioning"
    )
    http: HttpSource | None = Field(None, description="extracted from a REST endpoint per window")
    sql: SqlSource | None = Field(None, description="extracted from a database per window")

    @model_validator(mode="after")
    def _extracted_as_jsonl(self) -> "LandingSource":
        if self.http is not None and self.sql is not None:
            raise ValueError("a landing source has `http` or `sql`, not both")
        if self.extracted and self.format != "jsonl":
            raise ValueError("an extracted source (http/sql) lands JSON lines: set format: jsonl")
        if self.extracted and "*" in self.path:
            raise ValueError("an extracted source's path names one file per window: no *")
        if self.sql and self.sql.window_column and self.sql.window_column not in self.schema_:
            raise ValueError(f"sql.window_column {self.sql.window_column!r} is not in the schema")
        return self

    @property
    def extracted(self) -> bool:
        return self.http is not None or self.sql is not None

    @model_validator(mode="after")
    def _partition_column_declared(self) -> "LandingSource":
        if self.partition_column is not None:
            column = self.schema_.get(self.partition_column)
            if column is None:
                raise ValueError(f"partition_column {self.partition_column!r} is not in the schema")
            if column.type not in ("date", *TIMESTAMP_TYPES):
                raise ValueError(
                    f"partition_column {self.partition_column!r} must be a date or timestamp column, "
                    f"not {column.type}"
                )
        if self.outside_window is not None and not (
            self.partition_column and self.has_date_in_path
        ):
            raise ValueError(
                "outside_window applies to a source with {date} in its path and a partition_column"
            )
        return self

    @property
    def outside_window_policy(self) -> Literal["quarantine", "route"]:
        return self.outside_window or "quarantine"

    @property
    def has_date_in_path(self) -> bool:
        return "{date" in self.path


EngineName = Literal["pandas", "spark"]


class BuiltTable(TableBase):
    """A table the platform computes (every layer but landing)."""

    retry: RetrySpec | None = Field(None, description="retries of transient failures")
    engine: EngineName = Field(
        "pandas",
        description="the engine that builds it; default: the dataflow's `engine`, else the "
        "profile's",
    )
    contract: str | None = Field(
        None,
        description="dotted path of a SQLModel table class declaring its columns: the schema "
        "rule's columns, or a SQL output's `columns`; `dataplat targets` deploys it",
    )


class CheckedTable(BuiltTable):
    """A table whose rows are judged by quality rules."""

    rules: list[Rule] = Field(
        default_factory=list, description="quality rules, one asset check each"
    )
    quarantine: QuarantinePolicy | None = Field(
        None, description="bound on the share of rows quarantined"
    )
    key: list[str] = Field(
        default_factory=list,
        description="columns identifying a row, shown first in check samples and previews "
        "(default: the unique rule's or dedupe step's columns, else the input's key)",
    )

    @field_validator("key", mode="before")
    @classmethod
    def _key_list(cls, value: Any) -> Any:
        return as_list(value)

    @field_validator("rules", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return expand_not_null(value)

    @model_validator(mode="after")
    def _unique_check_names(self) -> "CheckedTable":
        seen: set[str] = set()
        for rule in self.rules:
            if rule.check_name in seen:
                raise ValueError(f"two rules make the check {rule.check_name!r}; give one a `name`")
            seen.add(rule.check_name)
        return self


class RawTable(CheckedTable):
    """Bronze: the landing data as read, typed, plus lineage columns."""

    from_: TableRefText = Field(alias="from")
    source_system: str = Field("unknown", description="value of the _source_system column")
    extraction_method: str | None = Field(None, description="default file:<format>")

    @field_validator("from_")
    @classmethod
    def _ref(cls, value: str) -> str:
        return check_ref(value)


class TransformTable(CheckedTable):
    """Staging, common and business tables: SQL, Python or built-in steps over inputs."""

    from_: list[TableRefText] = Field(default_factory=list, alias="from")
    sql: str | None = Field(None, description="SQL over {{ layer.table }} placeholders")
    sql_file: str | None = Field(None, description="file next to dataflow.yaml holding the SQL")
    python: str | None = Field(None, description="dotted path of a function returning a frame")
    params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for python")
    python_windows: Literal["each", "together"] = Field(
        "each",
        description="each: the function is called once per window; together: once per run "
        "with every window's rows and their _partition column (it is row-wise or keeps the "
        "windows apart itself, and returns _partition)",
    )
    steps: list[Step] = Field(default_factory=list)
    partitioned: bool | None = Field(None, description="default: partitioned when an input is")
    partitioning: "Partitioning | None" = Field(
        None,
        description="own windows (for example monthly over daily inputs); default: the inputs'",
    )

    @field_validator("from_", mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        return as_list(value)

    @field_validator("from_")
    @classmethod
    def _refs(cls, refs: list[str]) -> list[str]:
        return [check_ref(ref) for ref in refs]

    @model_validator(mode="after")
    def _one_body(self) -> "TransformTable":
        bodies = [name for name in ("sql", "sql_file", "python") if getattr(self, name)]
        if len(bodies) > 1:
            raise ValueError(f"give only one of sql, sql_file, python (got {', '.join(bodies)})")
        if not bodies and len(self.from_) != 1:
            raise ValueError(
                "a table without sql, sql_file or python needs exactly one `from` input"
            )
        if self.params and not self.python:
            raise ValueError("params are only passed to a python transform")
        if self.python_windows != "each" and not self.python:
            raise ValueError("python_windows applies to a python transform only")
        return self

    @property
    def body(self) -> Literal["sql", "python", "steps"]:
        if self.sql or self.sql_file:
            return "sql"
        return "python" if self.python else "steps"


class OutputTable(BuiltTable):
    """An export of one table: a file per window, a SQL or ClickHouse table, and a notice."""

    from_: TableRefText = Field(alias="from")
    format: Literal["csv", "parquet", "jsonl", "sql", "clickhouse"] = "csv"
    path: str | None = Field(
        None, description="file pattern under the exports root; {partition} and {date:FMT} allowed"
    )
    database: str | None = Field(None, description="connection name in the databases resource")
    table: str | None = Field(None, description="target table (format sql or clickhouse)")
    columns: SqlColumns = Field(
        default_factory=dict,
        description="format sql or clickhouse: the table's columns and types; default: the "
        "input's columns",
    )
    order_by: list[str] = Field(
        default_factory=list,
        description="format clickhouse: the MergeTree ordering key (default: _partition when "
        "partitioned, else none)",
    )
    on_schema_change: SchemaChange = Field(
        "fail",
        description="format sql, an existing table unlike the output: fail (refuse the write), "
        "or add_columns (add the missing columns, nullable; never drops or retypes one)",
    )
    notify: list[str] = Field(default_factory=list, description="recipients of the output notice")

    @field_validator("from_")
    @classmethod
    def _ref(cls, value: str) -> str:
        return check_ref(value)

    @model_validator(mode="after")
    def _target(self) -> "OutputTable":
        if self.format in ("sql", "clickhouse"):
            if not (self.database and self.table):
                raise ValueError(
                    f"format {self.format} needs `database` (a connection name) and `table`"
                )
            if self.path:
                raise ValueError(f"format {self.format} writes a table; `path` is for file formats")
            if PARTITION_COLUMN in self.columns:
                raise ValueError(f"{PARTITION_COLUMN} is the window column the output adds itself")
        elif self.database or self.table or self.columns:
            raise ValueError(
                f"`database`/`table`/`columns` only apply to format sql, not {self.format} "
                "(and to format clickhouse)"
            )
        if self.format != "clickhouse" and self.order_by:
            raise ValueError(f"`order_by` only applies to format clickhouse, not {self.format}")
        if self.format == "clickhouse" and self.on_schema_change != "fail":
            raise ValueError("format clickhouse refuses a table unlike the output: no add_columns")
        unknown = [name for name in self.order_by if self.columns and name not in self.columns]
        if unknown:
            raise ValueError(f"order_by names undeclared columns: {', '.join(unknown)}")
        return self


class Partitioning(StrictModel):
    """Time windows of a dataflow: granularity or cron, timezone, start, optional end, lag."""

    granularity: str | None = Field(
        None, description="hourly, daily, weekly, monthly, or every <N>h / <N>m"
    )
    cron: str | None = Field(None, description="cron expression of window starts")
    timezone: str = "UTC"
    start: str = Field(description="first window start, YYYY-MM-DD or YYYY-MM-DDTHH:MM")
    end: str | None = Field(None, description="exclusive end of the last window")
    lag: Duration = Field(
        0, description="stability threshold: a window is eligible this long after it ends"
    )

    @field_validator("granularity")
    @classmethod
    def _granularity(cls, value: str | None) -> str | None:
        if value is None or value in GRANULARITIES or _EVERY.match(value):
            return value
        raise ValueError(f"expected one of {', '.join(GRANULARITIES)} or <N>h / <N>m")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _moment(cls, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%dT%H:%M")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ValueError("expected YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
        return value

    @model_validator(mode="after")
    def _one_grain(self) -> "Partitioning":
        if (self.granularity is None) == (self.cron is None):
            raise ValueError("give exactly one of granularity or cron")
        return self


class Dataflow(StrictModel):
    """One dataflow: its sources and its tables per layer."""

    dataflow: Name
    description: str = ""
    owners: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    partitioning: Partitioning | None = None
    globals_: dict[str, Any] = Field(default_factory=dict, alias="globals")
    defaults: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="table defaults per layer (or `all`) for this dataflow"
    )
    schedule: ScheduleSpec | None = Field(None, description="cron of the dataflow's own runs")
    backfill: BackfillSpec = Field(default_factory=BackfillSpec)
    max_runtime: Duration | None = Field(
        None, description="a run lasting longer is ended and reported"
    )
    engine: EngineName | None = Field(
        None, description="the engine of its tables (each may set its own); default: the profile's"
    )
    landing: dict[TableName, LandingSource] = Field(default_factory=dict)
    raw: dict[TableName, RawTable] = Field(default_factory=dict)
    staging: dict[TableName, TransformTable] = Field(default_factory=dict)
    common: dict[TableName, TransformTable] = Field(default_factory=dict)
    business: dict[TableName, TransformTable] = Field(default_factory=dict)
    output: dict[TableName, OutputTable] = Field(default_factory=dict)

    @field_validator("owners")
    @classmethod
    def _owners(cls, owners: list[str]) -> list[str]:
        return check_owners(owners)

    def tables(self, layer: Layer) -> dict[str, Any]:
        return getattr(self, layer)


LandingSource.model_rebuild()
TransformTable.model_rebuild()
