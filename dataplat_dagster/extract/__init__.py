"""Extraction of landing sources declared with `http:` or `sql:` into the file store."""

from dataplat_dagster.config.models import LandingSource


class ExtractionError(Exception):
    """Extraction failed; the message names the source and the window."""


def extraction_method(source: LandingSource) -> str:
    """How raw's rows came, for its `_extraction_method` column."""
    if source.http is not None:
        return "http"
    if source.sql is not None:
        return "sql"
    return f"file:{source.format}"
