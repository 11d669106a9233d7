"""The contract of the ClickHouse output in test_clickhouse_runs (tests.clickhouse.models.X)."""

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class ClickHouseRegionTotals(SQLModel, table=True):
    __tablename__ = "ch_region_totals"

    region: str = Field(primary_key=True)
    units: int = Field(sa_type=sa.BigInteger)
    big_sales: int = Field(sa_type=sa.BigInteger)
    sales: int = Field(sa_type=sa.BigInteger)
    revenue: float | None = None
