"""The benchmark's Python business table: user code next to the project's definitions.py."""

import pandas as pd


def route_stats(flights_enriched: pd.DataFrame) -> pd.DataFrame:
    """Flights, mean distance and the 90th percentile of arrival delays per route."""
    delays = flights_enriched.assign(arr_delay=flights_enriched["arr_delay"].astype("float64"))
    by_route = delays.groupby(["origin", "dest"], observed=True)
    routes = by_route.agg(flights=("flight", "size"), mean_distance=("distance", "mean"))
    routes["p90_arr_delay"] = by_route["arr_delay"].quantile(0.9)
    return routes.reset_index()
