"""Table contracts of the retail demo: SQLModel classes named by `contract:` in dataflow.yaml."""

from datetime import date

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class DailyRevenue(SQLModel, table=True):
    """The reporting table `daily_revenue` (output daily_revenue_table).

    A business output carries no lineage columns, so no BronzeLineage mixin here; a raw
    table's contract would add it. Country and category may be null (a customer without a
    country is a warning, not a failure), so the row key is the mapper's, not a primary key
    constraint the database would enforce.
    """

    __tablename__ = "daily_revenue"
    __mapper_args__ = {"primary_key": ["order_date", "country", "category"]}

    order_date: date
    country: str | None = None
    category: str | None = None
    orders: int = Field(sa_type=sa.BigInteger)
    revenue: float | None = None
    currency: str | None = None
