"""Transforms of the retail demo dataflow."""

import pandas as pd


def customer_value(orders_enriched: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """Spend and order count per customer and day, keeping the `top` spenders of each day.

    Args:
        orders_enriched: one window of enriched orders.
        top: how many customers to keep per day.

    Returns:
        One row per kept customer and day with `spend`, `orders` and `rank` (1 = highest spend).
    """
    paid = orders_enriched[orders_enriched["status"] != "cancelled"]
    daily = (
        paid.assign(order_date=paid["ordered_at"].dt.normalize())
        .groupby(["order_date", "customer_id"], as_index=False, observed=True)
        .agg(spend=("amount", "sum"), orders=("order_id", "count"))
    )
    daily["rank"] = (
        daily.groupby("order_date")["spend"].rank(method="first", ascending=False).astype("int64")
    )
    return daily[daily["rank"] <= top].sort_values(["order_date", "rank"]).reset_index(drop=True)


def revenue_adds_up(daily_revenue: pd.DataFrame, tolerance: float = 0.01) -> dict:
    """A custom check: every revenue figure is positive and orders are counted.

    Returns:
        `{"passed": bool, "metadata": {...}}`, shown on the check in the UI.
    """
    negative = int((daily_revenue["revenue"] < -tolerance).sum())
    zero_orders = int((daily_revenue["orders"] <= 0).sum())
    return {
        "passed": negative == 0 and zero_orders == 0,
        "metadata": {"negative_revenue_rows": negative, "rows_without_orders": zero_orders},
    }
