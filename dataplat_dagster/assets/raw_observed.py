"""Publishing raw on Spark when no check judges it: counted by the table's own write.

A raw table without checks needs no count before publication: nothing can keep a window
back. Its table is written first, and that write job parses every line once and counts
rejected rows per window (raw_spark.py `load_observed`; the rows written per window are
the files' footers); each window's manifest (`source_rows`), the output's counts and the
quarantine (placed by those counts) come after.
Tables with checks go through `Published` (quality.py), which counts before publishing.
"""

from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg

from dataplat_dagster.assets.quality import failed_metadata, preview_metadata
from dataplat_dagster.assets.raw_spark import ObservedLoad
from dataplat_dagster.assets.support import QUARANTINE, Counts
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

    table_metadata = {
        **metadata,
        **preview_metadata(context, engine, keys, plan.id, loaded.plain),  # not the observed
        **failed_metadata(context, plan, keys, {}),
    }
    carried = WindowedFrame(
        loaded.table, {}, lambda written: sources(loaded.counts(written)[0]), settled=settled
    )
    yield dg.Output(carried, "table", metadata=table_metadata)
    if counts.rows_quarantined:
        # read twice (its preview, its write): cached, as the rejected rows are few
        quarantine = engine.as_text(loaded.bad()).persist()
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
    if counts.rows_quarantined:
        quarantine.unpersist()
