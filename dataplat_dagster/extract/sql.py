"""Rows of one window from a named database connection, chunk by chunk.

SQLAlchemy with a server-side cursor (`stream_results`, `fetchmany` of `chunk_size` rows), so
a window's result never sits whole in memory; the connections are the profile's
`resources.databases` (passwords from {env:}/{ssm:}). dlt's sql_database source would bring
fifteen packages and its own pipeline layout; connectorx/ADBC return whole Arrow tables.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dataplat_dagster.config.extracted import SqlSource
from dataplat_dagster.extract import ExtractionError
from dataplat_dagster.resources.kerberos import KerberosError


@dataclass
class SqlProgress:
    chunks: int = 0
    query: str = ""


def extraction_query(
    spec: SqlSource,
    engine: sa.Engine,
    column_type: str | None,
    start: datetime | None,
    end: datetime | None,
) -> tuple[sa.TextClause, dict[str, Any]]:
    """The SELECT of the window (or of everything) and its bound parameters."""
    quote = engine.dialect.identifier_preparer.quote
    if spec.table is not None:
        source = ".".join(quote(part) for part in spec.table.split("."))
    else:
        source = f"({spec.query.strip().rstrip(';')}) extracted"  # type: ignore[union-attr]
    if spec.window_column is None or start is None or end is None:
        return sa.text(f"SELECT * FROM {source}"), {}
    column = quote(spec.window_column)
    sql = f"SELECT * FROM {source} WHERE {column} >= :window_start AND {column} < :window_end"
    return sa.text(sql), {
        "window_start": _bound(start, column_type, engine),
        "window_end": _bound(end, column_type, engine),
    }


def _bound(moment: datetime, column_type: str | None, engine: sa.Engine) -> Any:
    if column_type == "date":
        return moment.date()
    if column_type == "timestamp" and engine.dialect.name == "postgresql":
        return moment  # an instant: timestamptz compares it as one
    # a naive column holds wall-clock times where the dataflow's windows are
    return moment.replace(tzinfo=None)


def fetch_rows(
    engine: sa.Engine,
    query: sa.TextClause,
    params: dict[str, Any],
    chunk_size: int,
    progress: SqlProgress,
) -> Iterator[dict[str, Any]]:
    progress.query = str(query)
    try:
        with engine.connect() as connection:
            result = connection.execution_options(stream_results=True).execute(query, params)
            names = list(result.keys())
            while rows := result.fetchmany(chunk_size):
                progress.chunks += 1
                for row in rows:
                    yield dict(zip(names, row, strict=True))
    except sa.exc.SQLAlchemyError as error:
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise ExtractionError(f"{type(error).__name__}: {detail}") from error
    except KerberosError as error:  # no ticket could be had: kinit or the keytab
        raise ExtractionError(f"KerberosError: {error}") from error
