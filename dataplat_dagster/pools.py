"""The writer pools: one Dagster concurrency pool per dataflow, so one step writes at a time.

Every step of a dataflow takes a slot of the pool `dataplat_<dataflow>`. Dagster creates a
pool lazily, at a step's first claim, from `concurrency.pools.default_limit`; on PostgreSQL
that creation fails when two runs make it in the same instant (the INSERT's unique violation
aborts the transaction, and the run fails: dagster-io/dagster#33552, open in the pinned
release). Setting the pool's limit explicitly before runs start is the workaround that issue
names, so `dataplat run` and `dataplat ui` do it for the pools that do not exist yet.
"""

from collections.abc import Iterable

import dagster as dg
from sqlalchemy.exc import IntegrityError

# one writer per dataflow window, unless the instance's dagster.yaml sets another default
WRITER_LIMIT = 1


def writer_pool(dataflow: str) -> str:
    return f"dataplat_{dataflow}"


def ensure_writer_pools(instance: dg.DagsterInstance, dataflows: Iterable[str]) -> list[str]:
    """Create the missing writer pools of `dataflows`; returns the pools it set.

    A pool that exists keeps its limit: an operator may have changed it in the UI or with
    `dagster instance concurrency set`.
    """
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    limit = instance.global_op_concurrency_default_limit or WRITER_LIMIT
    existing = {pool.name for pool in storage.get_pool_limits()}
    created = []  # may overlap another process's: both then set the same limit
    for pool in sorted({writer_pool(dataflow) for dataflow in dataflows} - existing):
        try:
            storage.set_concurrency_slots(pool, limit)
        except IntegrityError:
            continue  # another process created it in the same instant, with the same limit
        created.append(pool)
    return created
