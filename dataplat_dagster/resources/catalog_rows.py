"""The local catalogue's SQLite tables (SQLModel), imported by `LocalCatalog` on first use."""

from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Field, Session, SQLModel, select

__all__ = ["CatalogPartitionRow", "CatalogTableRow", "Session", "create_tables", "select"]


class CatalogTableRow(SQLModel, table=True):
    __tablename__ = "catalog_tables"
    database: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    columns: str  # JSON list of [name, type]
    location: str
    partition_keys: str  # JSON list
    description: str = ""
    updated_at: datetime


class CatalogPartitionRow(SQLModel, table=True):
    __tablename__ = "catalog_partitions"
    database: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    value: str = Field(primary_key=True)
    location: str
    updated_at: datetime
    withheld: bool = False  # its quality gate closed: not served


def create_tables(engine: Engine) -> None:
    SQLModel.metadata.create_all(
        engine,
        tables=[CatalogTableRow.__table__, CatalogPartitionRow.__table__],  # type: ignore[attr-defined]
    )
