"""Contract classes the contract tests name from their dataflows (tests.contracts.models.X).

Every SQLModel table class shares SQLModel.metadata: each has a table name of its own.
"""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from dataplat_dagster.contracts.declaration import BronzeLineage


class RawShopOrders(BronzeLineage, table=True):
    """raw.orders of the BASE dataflow: its landing columns and the lineage columns."""

    __tablename__ = "contract_raw_orders"

    order_id: int = Field(primary_key=True, sa_type=sa.BigInteger)
    amount: str | None = None
    ordered_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class ShopTotals(SQLModel, table=True):
    """The SQL output of business.totals."""

    __tablename__ = "contract_totals"

    n: int = Field(primary_key=True, sa_type=sa.BigInteger)


class NotATable(SQLModel):
    n: int


NOT_A_CLASS = 42
