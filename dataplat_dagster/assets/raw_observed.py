"""Publishing raw on Spark when no check judges it: counted by the table's own write.

A raw table without checks needs no count before publication: nothing can keep a window
back. Its table is written first, and that write job parses every line once and counts
the rejected rows (raw_spark.py `load_observed`; the rows written per window are the
files' footers, and rejected rows, where there are any, are read once more and counted by
window); each window's manifest (`source_rows`), the output's counts and the
quarantine (placed by those counts) come after, and so does its preview: the first rows
written, read back from the files.
Tables with checks go through `Published` (quality.py), which counts before publishing.
"""

from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import pyarrow as pa

from dataplat_dagster.assets.quality import failed_metadata, preview_metadata, shown_metadata
from dataplat_dagster.assets.raw_spark import ObservedLoad
from dataplat_dagster.assets.support import PREVIEW_ROWS, QUARANTINE, Counts, preview_table
from dataplat_dagster.config.plan import TablePlan
from dataplat_dagster.engines.base import Engine
from dataplat_dagster.resources.io_managers import WindowedFrame


def observed_events(
    context: dg.AssetExecutionContext,
    plan: TablePlan,
    engine: Engine,
    loaded: ObservedLoad,
    counts: Counts,
    *,
    keys: list[str | None],
    input_name: str,
    metadata: dict[str, Any],
    sources: Callable[[dict[str | None, int]], dict[str | None, Any]],
) -> Iterator[dg.Output]:
    """The table's output, then its quarantine: what `Published.events` yields without checks.

    `sources`: rows read per window -> what each window's manifest keeps.
    """

    def settled() -> dict[str, Any]:  # in the IO manager, once the table's write job ran
        read, rejected = loaded.counts()
        counts.rows_in = sum(read.values())
        counts.rows_in_by_input = {input_name: counts.rows_in}
        counts.rows_quarantined = sum(rejected.values())
        counts.rows_out = counts.rows_in - counts.rows_quarantined
        return counts.as_metadata()

    def previewed(first_rows: Callable[[int], pa.Table]) -> dict[str, Any]:
        # the rows written, read back: a preview of the table before its write was a Spark
        # job of its own, which planned and ran the whole parse once more
        return shown_metadata(context, keys, plan.id, preview_table(first_rows(PREVIEW_ROWS)))

    table_metadata = {**metadata, **failed_metadata(context, plan, keys, {})}
    carried = WindowedFrame(
        loaded.table,
        {},
        lambda written: sources(loaded.counts(written)[0]),
        settled=settled,
        preview_written=previewed,
    )
    yield dg.Output(carried, "table", metadata=table_metadata)
    if counts.rows_quarantined:
        # read twice (its preview, its write): from the rejected rows cached as they were
        # counted (`ObservedLoad.counts`), as text
        quarantine = engine.as_text(loaded.bad())
    else:
        empty = engine.as_frame(engine.head(loaded.plain, 0))
        quarantine = engine.quarantine(empty, engine.combine([], 0), "", "", None, "")
    companion = plan.id.companion(QUARANTINE)
    yield dg.Output(
        WindowedFrame(quarantine),
        QUARANTINE,
        metadata={
            "rows": counts.rows_quarantined,
            **preview_metadata(context, engine, keys, companion, quarantine),
        },
    )
    loaded.release()
