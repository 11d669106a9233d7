"""The TPC-H medallion written by hand: plain pandas, no platform code (see BENCH.md).

The best straightforward pandas a user would write: pyarrow's CSV reader, Arrow-backed
strings, Parquet written per month with pyarrow. Each stage reads the previous stage's
files. Prints the per-stage seconds and the result figures as one JSON object.

    python bench/handwritten.py LANDING_ROOT OUTPUT_FOLDER
"""

import json
import socket
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

pd.options.future.infer_string = True  # Arrow-backed strings (pandas 2.x)

LINEITEM = {
    "l_orderkey": "int64",
    "l_partkey": "int64",
    "l_suppkey": "int64",
    "l_linenumber": "int32",
    "l_quantity": "float64",
    "l_extendedprice": "float64",
    "l_discount": "float64",
    "l_tax": "float64",
    "l_returnflag": "str",
    "l_linestatus": "str",
    "l_shipinstruct": "str",
    "l_shipmode": "str",
    "l_comment": "str",
}
LINEITEM_DATES = ["l_shipdate", "l_commitdate", "l_receiptdate"]
ORDERS = {
    "o_orderkey": "int64",
    "o_custkey": "int64",
    "o_orderstatus": "str",
    "o_totalprice": "float64",
    "o_orderpriority": "str",
    "o_clerk": "str",
    "o_shippriority": "int32",
    "o_comment": "str",
}
ORDERS_DATES = ["o_orderdate"]
ARROW = {"int64": pa.int64(), "int32": pa.int32(), "float64": pa.float64(), "str": pa.string()}


def landing_to_raw(
    landing: Path, out: Path, name: str, dtypes: dict, dates: list[str], month_of: str
) -> dict:
    path = landing / "tpch" / f"{name}.csv"
    # pyarrow's CSV reader with the schema given (pd.read_csv's dtype/parse_dates post-processing
    # is several times slower), strings kept Arrow-backed
    types = {c: ARROW[t] for c, t in dtypes.items()} | {c: pa.date32() for c in dates}
    table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(column_types=types))
    frame = table.to_pandas(
        date_as_object=False,
        types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get,
    )
    del table
    run_id = str(uuid.uuid4())
    frame["_source_row"] = np.arange(2, len(frame) + 2)
    for column, value in {
        "_source_system": "tpch",
        "_source_file": f"tpch/{name}.csv",
        "_source_host": socket.gethostname(),
        "_extraction_method": "file:csv",
        "_run_id": run_id,
    }.items():
        frame[column] = pd.Categorical.from_codes(np.zeros(len(frame), dtype=np.int8), [value])
    frame["_load_ts"] = pd.Timestamp(datetime.now(UTC))
    frame["month"] = frame[month_of].dt.year * 100 + frame[month_of].dt.month
    write_by_month(frame, out / "raw" / name)
    return {"rows": len(frame), "months": frame["month"].nunique()}


def write_by_month(frame: pd.DataFrame, folder: Path) -> None:
    """One Parquet file per month (a single row group each, unlike write_to_dataset on unsorted rows)."""
    for month, part in frame.groupby("month", sort=False):
        target = folder / f"month={month}"
        target.mkdir(parents=True, exist_ok=True)
        part.drop(columns="month").to_parquet(target / "part-0.parquet", index=False)


def raw_to_staging(out: Path, name: str, dtypes: dict, keys: list[str]) -> dict:
    frame = pd.read_parquet(out / "raw" / name)
    frame["month"] = frame["month"].astype("int64")
    frame = frame.astype({c: t for c, t in dtypes.items() if t != "str"})
    for column in [c for c, t in dtypes.items() if t == "str"]:
        frame[column] = frame[column].str.strip()
    data_columns = [c for c in frame.columns if not c.startswith("_")]
    before = len(frame)
    frame = frame.drop_duplicates(subset=data_columns)
    duplicates = before - len(frame)
    frame = frame.dropna(subset=keys)
    null_keys = before - duplicates - len(frame)
    write_by_month(frame, out / "staging" / name)
    return {
        "rows": len(frame),
        "raw_rows": before,
        "duplicates": duplicates,
        "null_keys": null_keys,
        "months": frame["month"].nunique(),
    }


def checks(out: Path, figures: dict) -> dict:
    lineitem = pd.read_parquet(out / "staging" / "lineitem")
    orders = pd.read_parquet(out / "staging" / "orders", columns=["o_orderkey", "month"])
    results = {
        "unique_l_orderkey_l_linenumber": not lineitem.duplicated(
            ["l_orderkey", "l_linenumber", "month"]
        ).any(),
        "range_l_quantity": bool(lineitem["l_quantity"].between(1, 50).all()),
        "range_l_discount": bool(lineitem["l_discount"].between(0, 0.10).all()),
        "accepted_values_l_returnflag": bool(lineitem["l_returnflag"].isin(["A", "N", "R"]).all()),
        "shipped_before_received": bool(
            (lineitem["l_shipdate"] <= lineitem["l_receiptdate"]).mean() >= 0.99
        ),
        "unique_o_orderkey": not orders.duplicated(["o_orderkey", "month"]).any(),
    }
    for name in ("lineitem", "orders"):
        staged = figures[f"staging_{name}"]
        results[f"count_audit_{name}"] = (
            staged["rows"] == staged["raw_rows"] - staged["duplicates"] - staged["null_keys"]
        )
    return results


def business(out: Path) -> dict:
    lineitem = pd.read_parquet(
        out / "staging" / "lineitem",
        columns=[
            "l_orderkey",
            "l_extendedprice",
            "l_discount",
            "l_shipmode",
            "l_quantity",
            "l_tax",
            "l_returnflag",
            "l_linestatus",
            "l_shipdate",
        ],
    )
    orders = pd.read_parquet(out / "staging" / "orders", columns=["o_orderkey", "o_orderdate"])
    joined = lineitem.merge(orders, left_on="l_orderkey", right_on="o_orderkey")
    joined["order_month"] = joined["o_orderdate"].dt.year * 100 + joined["o_orderdate"].dt.month
    joined["revenue"] = joined["l_extendedprice"] * (1 - joined["l_discount"])
    revenue = joined.groupby(["order_month", "l_shipmode"], as_index=False).agg(
        revenue=("revenue", "sum"), line_count=("l_orderkey", "size")
    )
    shipped = lineitem[lineitem["l_shipdate"] <= pd.Timestamp("1998-09-02")].assign(
        disc_price=lambda f: f["l_extendedprice"] * (1 - f["l_discount"])
    )
    shipped["charge"] = shipped["disc_price"] * (1 + shipped["l_tax"])
    pricing = shipped.groupby(["l_returnflag", "l_linestatus"], as_index=False).agg(
        sum_qty=("l_quantity", "sum"),
        sum_base_price=("l_extendedprice", "sum"),
        sum_disc_price=("disc_price", "sum"),
        sum_charge=("charge", "sum"),
        avg_qty=("l_quantity", "mean"),
        avg_price=("l_extendedprice", "mean"),
        avg_disc=("l_discount", "mean"),
        count_order=("l_quantity", "size"),
    )
    (out / "business").mkdir(parents=True, exist_ok=True)
    revenue.to_parquet(out / "business" / "revenue_by_month_shipmode.parquet", index=False)
    pricing.to_parquet(out / "business" / "pricing_summary.parquet", index=False)
    return {
        "revenue_rows": len(revenue),
        "revenue_line_count": int(revenue["line_count"].sum()),
        "pricing_rows": len(pricing),
        "pricing_count": int(pricing["count_order"].sum()),
        "revenue_total": float(revenue["revenue"].sum()),
    }


def main(landing: Path, out: Path) -> None:
    stages: dict[str, float] = {}
    figures: dict = {}
    started = time.perf_counter()
    figures["raw_lineitem"] = landing_to_raw(
        landing, out, "lineitem", LINEITEM, LINEITEM_DATES, "l_shipdate"
    )
    figures["raw_orders"] = landing_to_raw(
        landing, out, "orders", ORDERS, ORDERS_DATES, "o_orderdate"
    )
    stages["landing_to_raw"] = time.perf_counter() - started
    started = time.perf_counter()
    figures["staging_lineitem"] = raw_to_staging(
        out, "lineitem", LINEITEM, ["l_orderkey", "l_linenumber"]
    )
    figures["staging_orders"] = raw_to_staging(out, "orders", ORDERS, ["o_orderkey"])
    stages["raw_to_staging"] = time.perf_counter() - started
    started = time.perf_counter()
    figures["checks"] = checks(out, figures)
    stages["checks"] = time.perf_counter() - started
    started = time.perf_counter()
    figures["business"] = business(out)
    stages["business"] = time.perf_counter() - started
    print(
        json.dumps(
            {"stages": stages, "figures": figures},
            default=lambda v: v.item() if hasattr(v, "item") else str(v),
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
