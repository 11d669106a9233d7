"""The TPC-H medallion written by hand in PySpark: no platform code (see BENCH.md).

The same work as bench/handwritten.py, written the way a person would in PySpark: CSVs read
with an explicit schema, lineage columns added, Parquet written partitioned by month (one
file per month: the rows are repartitioned by month before each write), and each stage
reading the previous stage's files. The session is `local[2]` with the benchmark's shuffle
partitions and driver memory (bench/common.py), the same settings the platform's Spark
engine gets. Prints the per-stage seconds and the result figures as one JSON object.

    python bench/handwritten_spark.py LANDING_ROOT OUTPUT_FOLDER [--shuffle-partitions 8]
"""

import argparse
import json
import socket
import sys
import time
import uuid
from pathlib import Path

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SPARK_DRIVER_MEMORY, SPARK_MASTER, SPARK_SHUFFLE_PARTITIONS

LINEITEM = (
    "l_orderkey bigint, l_partkey bigint, l_suppkey bigint, l_linenumber int, "
    "l_quantity double, l_extendedprice double, l_discount double, l_tax double, "
    "l_returnflag string, l_linestatus string, l_shipdate date, l_commitdate date, "
    "l_receiptdate date, l_shipinstruct string, l_shipmode string, l_comment string"
)
ORDERS = (
    "o_orderkey bigint, o_custkey bigint, o_orderstatus string, o_totalprice double, "
    "o_orderdate date, o_orderpriority string, o_clerk string, o_shippriority int, "
    "o_comment string"
)


def session(shuffle_partitions: int, driver_memory: str) -> SparkSession:
    spark = (
        SparkSession.builder.master(SPARK_MASTER)
        .appName("tpch-medallion-by-hand")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.driver.memory", driver_memory)
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def write_by_month(frame: DataFrame, folder: Path) -> None:
    # one shuffle by month gives one file per month instead of one per input split and month
    frame.repartition("month").write.partitionBy("month").mode("overwrite").parquet(str(folder))


def months_in(folder: Path) -> int:
    return sum(1 for _ in folder.glob("month=*"))


def counted(frame: DataFrame) -> tuple[DataFrame, Observation]:
    """The frame, counting its rows during the action that runs it (no pass of its own)."""
    observation = Observation()
    return frame.observe(observation, F.count(F.lit(1)).alias("rows")), observation


def landing_to_raw(
    spark: SparkSession, landing: Path, out: Path, name: str, schema: str, month_of: str
) -> dict:
    frame = spark.read.csv(str(landing / "tpch" / f"{name}.csv"), schema=schema, header=True)
    lineage = {
        "_load_ts": F.current_timestamp(),
        "_source_system": F.lit("tpch"),
        "_source_file": F.lit(f"tpch/{name}.csv"),
        "_source_host": F.lit(socket.gethostname()),
        "_extraction_method": F.lit("file:csv"),
        "_run_id": F.lit(str(uuid.uuid4())),
        # a unique row id; the exact line number would need a pass through one task
        "_source_row": F.monotonically_increasing_id(),
        "month": F.year(month_of) * 100 + F.month(month_of),
    }
    raw, rows = counted(frame.withColumns(lineage))
    write_by_month(raw, out / "raw" / name)
    return {"rows": rows.get["rows"], "months": months_in(out / "raw" / name)}


def raw_to_staging(spark: SparkSession, out: Path, name: str, schema: str, keys: list[str]) -> dict:
    raw = spark.read.parquet(str(out / "raw" / name))
    types = dict(field.strip().split(" ") for field in schema.split(","))
    typed = raw.withColumns(
        {
            column: F.trim(F.col(column)) if kind == "string" else F.col(column).cast(kind)
            for column, kind in types.items()
        }
    )
    data_columns = [c for c in typed.columns if not c.startswith("_")]
    typed, raw_rows = counted(typed)
    # dedupe within a month (month is a data column): the shuffle by month also serves the write
    deduped, distinct_rows = counted(typed.repartition("month").dropDuplicates(data_columns))
    staged, rows = counted(deduped.dropna(subset=keys))
    staged.write.partitionBy("month").mode("overwrite").parquet(str(out / "staging" / name))
    return {
        "rows": rows.get["rows"],
        "raw_rows": raw_rows.get["rows"],
        "duplicates": raw_rows.get["rows"] - distinct_rows.get["rows"],
        "null_keys": distinct_rows.get["rows"] - rows.get["rows"],
        "months": months_in(out / "staging" / name),
    }


def checks(spark: SparkSession, out: Path, figures: dict) -> dict:
    lineitem = spark.read.parquet(str(out / "staging" / "lineitem"))
    orders = spark.read.parquet(str(out / "staging" / "orders"))

    def unique(frame: DataFrame, keys: list[str]) -> bool:
        return frame.groupBy(*keys, "month").count().where("count > 1").isEmpty()

    ranges = lineitem.agg(
        F.min("l_quantity").alias("min_qty"),
        F.max("l_quantity").alias("max_qty"),
        F.min("l_discount").alias("min_disc"),
        F.max("l_discount").alias("max_disc"),
        F.count_if(~F.col("l_returnflag").isin("A", "N", "R")).alias("bad_flags"),
        F.avg((F.col("l_shipdate") <= F.col("l_receiptdate")).cast("int")).alias("shipped_ok"),
    ).first()
    results = {
        "unique_l_orderkey_l_linenumber": unique(lineitem, ["l_orderkey", "l_linenumber"]),
        "range_l_quantity": ranges["min_qty"] >= 1 and ranges["max_qty"] <= 50,
        "range_l_discount": ranges["min_disc"] >= 0 and ranges["max_disc"] <= 0.10,
        "accepted_values_l_returnflag": ranges["bad_flags"] == 0,
        "shipped_before_received": ranges["shipped_ok"] >= 0.99,
        "unique_o_orderkey": unique(orders, ["o_orderkey"]),
    }
    for name in ("lineitem", "orders"):
        staged = figures[f"staging_{name}"]
        results[f"count_audit_{name}"] = (
            staged["rows"] == staged["raw_rows"] - staged["duplicates"] - staged["null_keys"]
        )
    return results


def business(spark: SparkSession, out: Path) -> dict:
    lineitem = spark.read.parquet(str(out / "staging" / "lineitem"))
    orders = spark.read.parquet(str(out / "staging" / "orders"))
    disc_price = F.col("l_extendedprice") * (1 - F.col("l_discount"))
    revenue = (
        lineitem.join(orders, lineitem["l_orderkey"] == orders["o_orderkey"])
        .groupBy(
            (F.year("o_orderdate") * 100 + F.month("o_orderdate")).alias("order_month"),
            "l_shipmode",
        )
        .agg(F.sum(disc_price).alias("revenue"), F.count("*").alias("line_count"))
        .orderBy("order_month", "l_shipmode")
    )
    pricing = (
        lineitem.where(F.col("l_shipdate") <= F.lit("1998-09-02").cast("date"))
        .groupBy("l_returnflag", "l_linestatus")
        .agg(
            F.sum("l_quantity").alias("sum_qty"),
            F.sum("l_extendedprice").alias("sum_base_price"),
            F.sum(disc_price).alias("sum_disc_price"),
            F.sum(disc_price * (1 + F.col("l_tax"))).alias("sum_charge"),
            F.avg("l_quantity").alias("avg_qty"),
            F.avg("l_extendedprice").alias("avg_price"),
            F.avg("l_discount").alias("avg_disc"),
            F.count("*").alias("count_order"),
        )
        .orderBy("l_returnflag", "l_linestatus")
    )
    for table, frame in (("revenue_by_month_shipmode", revenue), ("pricing_summary", pricing)):
        frame.coalesce(1).write.mode("overwrite").parquet(str(out / "business" / table))
    revenue_rows = spark.read.parquet(str(out / "business" / "revenue_by_month_shipmode"))
    pricing_rows = spark.read.parquet(str(out / "business" / "pricing_summary"))
    totals = revenue_rows.agg(
        F.count("*"), F.sum("line_count"), F.sum("revenue")
    ).first()  # the written results are small: a pass over them is nothing
    pricing_totals = pricing_rows.agg(F.count("*"), F.sum("count_order")).first()
    return {
        "revenue_rows": totals[0],
        "revenue_line_count": totals[1],
        "pricing_rows": pricing_totals[0],
        "pricing_count": pricing_totals[1],
        "revenue_total": totals[2],
    }


def run(spark: SparkSession, landing: Path, out: Path) -> dict:
    """Every stage in order: their seconds and the result figures."""
    stages: dict[str, float] = {}
    figures: dict = {}
    started = time.perf_counter()
    figures["raw_lineitem"] = landing_to_raw(
        spark, landing, out, "lineitem", LINEITEM, "l_shipdate"
    )
    figures["raw_orders"] = landing_to_raw(spark, landing, out, "orders", ORDERS, "o_orderdate")
    stages["landing_to_raw"] = time.perf_counter() - started
    started = time.perf_counter()
    figures["staging_lineitem"] = raw_to_staging(
        spark, out, "lineitem", LINEITEM, ["l_orderkey", "l_linenumber"]
    )
    figures["staging_orders"] = raw_to_staging(spark, out, "orders", ORDERS, ["o_orderkey"])
    stages["raw_to_staging"] = time.perf_counter() - started
    started = time.perf_counter()
    figures["checks"] = checks(spark, out, figures)
    stages["checks"] = time.perf_counter() - started
    started = time.perf_counter()
    figures["business"] = business(spark, out)
    stages["business"] = time.perf_counter() - started
    return {"stages": stages, "figures": figures}


def main(landing: Path, out: Path, shuffle_partitions: int, driver_memory: str) -> None:
    spark = session(shuffle_partitions, driver_memory)
    result = run(spark, landing, out)
    spark.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("landing", type=Path, help="the landing root holding tpch/*.csv")
    parser.add_argument("out", type=Path, help="where raw/, staging/ and business/ are written")
    parser.add_argument("--shuffle-partitions", type=int, default=SPARK_SHUFFLE_PARTITIONS)
    parser.add_argument("--driver-memory", default=SPARK_DRIVER_MEMORY)
    args = parser.parse_args()
    main(args.landing, args.out, args.shuffle_partitions, args.driver_memory)
