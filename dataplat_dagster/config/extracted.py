"""The `http:` and `sql:` blocks of a landing source: where its files are extracted from.

A landing source with one of them is extracted by the platform, window by window, into its
`path` in the file store (format jsonl); raw and every layer below read those files unchanged.
"""

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, PlainValidator, WithJsonSchema, model_validator

from dataplat_dagster.config.base import StrictModel
from dataplat_dagster.config.substitution import EnvRef

if TYPE_CHECKING:
    from dataplat_dagster.config.models import LandingSource

SSM_PREFIX = "ssm:"  # how the loader hands on `{ssm: /name}` (read when the run starts)


def _text_or_env(value: Any) -> str | EnvRef:
    if isinstance(value, str | EnvRef):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError("expected text, {env: NAME} or {ssm: /parameter/name}")


def is_secret(value: str | EnvRef) -> bool:
    """A value from the environment or SSM: read at run time, never shown."""
    return isinstance(value, EnvRef) or value.startswith(SSM_PREFIX)


TextOrSecret = Annotated[
    str | EnvRef,
    PlainValidator(_text_or_env),
    WithJsonSchema({"type": "string", "description": "text, {env: NAME} or {ssm: /name}"}),
]


class HttpPagination(StrictModel):
    """How the endpoint hands out the next page."""

    type: Literal["none", "page", "offset", "cursor", "next_link"] = "none"
    param: str | None = Field(
        None, description="query parameter of the page number, offset or cursor"
    )
    size_param: str | None = Field(None, description="query parameter of the page size")
    size: int = Field(100, ge=1, description="page size (page/offset: a shorter page is the last)")
    start: int = Field(1, ge=0, description="first page number (page) or offset (offset: 0)")
    cursor_path: str | None = Field(
        None, description="cursor: dotted path of the next cursor in the JSON; empty/null ends"
    )
    next_path: str | None = Field(
        None, description="next_link: dotted path of the next page's URL in the JSON; null ends"
    )

    @model_validator(mode="after")
    def _complete(self) -> "HttpPagination":
        needs = {
            "page": ("param",),
            "offset": ("param",),
            "cursor": ("param", "cursor_path"),
            "next_link": ("next_path",),
        }.get(self.type, ())
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"pagination {self.type} needs {', '.join(missing)}")
        return self


class HttpAuth(StrictModel):
    """A bearer token or an API key, read from the environment or SSM when the run starts."""

    type: Literal["bearer", "api_key"]
    secret: TextOrSecret | None = Field(
        None, description="the token or key: {env: NAME} or {ssm: /parameter/name}"
    )
    secret_env: str | None = Field(None, description="environment variable holding the secret")
    secret_ssm: str | None = Field(
        None, description="SSM Parameter Store name holding the secret (read decrypted)"
    )
    header: str = Field("X-API-Key", description="api_key: the header carrying the key")

    @model_validator(mode="after")
    def _one_secret(self) -> "HttpAuth":
        given = [s for s in (self.secret, self.secret_env, self.secret_ssm) if s is not None]
        if len(given) != 1:
            raise ValueError("auth needs exactly one of secret, secret_env or secret_ssm")
        if self.secret is not None and not is_secret(self.secret):
            raise ValueError(
                "auth.secret takes {env: NAME} or {ssm: /parameter/name}, never the secret itself"
            )
        return self


class HttpSource(StrictModel):
    url: str = Field(description="endpoint URL")
    params: dict[str, TextOrSecret] = Field(
        default_factory=dict,
        description="query parameters; {start:%Y-%m-%d} and {end:...} give the window's bounds "
        "(in the dataflow's time zone; end exclusive); {env:}/{ssm:} values are hidden in metadata",
    )
    headers: dict[str, TextOrSecret] = Field(
        default_factory=dict, description="request headers; {env: NAME}/{ssm: /name} for secrets"
    )
    records_path: str = Field(
        "",
        description="dotted path of the records list in each page's JSON; empty: the page is the list",
    )
    pagination: HttpPagination = Field(default_factory=HttpPagination)
    auth: HttpAuth | None = None
    requests_per_second: float | None = Field(None, gt=0, description="rate limit")
    retries: int = Field(
        5, ge=0, description="retries of a request on 429/5xx or a lost connection"
    )
    backoff: float = Field(
        0.5, ge=0, description="seconds; doubles at each retry (Retry-After wins)"
    )
    timeout: float = Field(30, gt=0, description="seconds per request")
    max_pages: int = Field(10_000, ge=1, description="a guard against a pagination that never ends")


class SqlSource(StrictModel):
    database: str = Field(description="connection name under resources.databases of the profile")
    table: str | None = Field(None, description="a table (or schema.table) read whole or by window")
    query: str | None = Field(None, description="a SELECT, filtered by window around it")
    window_column: str | None = Field(
        None,
        description="date/timestamp column selecting the window's rows (start <= column < end); "
        "without it the whole result is extracted (dimensions)",
    )
    chunk_size: int = Field(10_000, ge=1, description="rows fetched per round trip")

    @model_validator(mode="after")
    def _table_or_query(self) -> "SqlSource":
        if (self.table is None) == (self.query is None):
            raise ValueError("sql needs exactly one of `table` or `query`")
        return self


def unknown_sql_connection(
    landing: Mapping[str, "LandingSource"], connections: Collection[str]
) -> tuple[tuple[str, ...], str] | None:
    """The first `sql.database` naming no connection of the profile: (field path, reason)."""
    for name, source in landing.items():
        if source.sql is not None and source.sql.database not in connections:
            known = ", ".join(sorted(connections)) or "none"
            return (
                ("landing", name, "sql", "database"),
                f"no connection {source.sql.database!r} under resources.databases of the "
                f"profile (known: {known})",
            )
    return None
