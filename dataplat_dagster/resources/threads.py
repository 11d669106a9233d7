"""Per-window work of a range run in a few threads: file I/O and pyarrow release the GIL.

A range writes hundreds of small windows, each a handful of file creations whose cost is
waiting on the filesystem; overlapping them is what makes a year of daily windows cheap.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

THREADS = 8  # enough to overlap waits on a local disk or S3; more only adds GIL contention


def each(
    function: Callable[[Any], Any], items: list[Any], on_done: Callable[[], None] | None = None
) -> list[Any]:
    """`function` of each item, in a thread pool when there are several; results in order.

    `on_done` runs in the caller's thread after each item, in order. The first failure
    cancels the items not yet started, waits for those running, and is raised.
    """
    if len(items) <= 1:
        results = []
        for item in items:
            results.append(function(item))
            if on_done is not None:
                on_done()
        return results
    pool = ThreadPoolExecutor(min(THREADS, len(items)), thread_name_prefix="dataplat-write")
    try:
        futures = [pool.submit(function, item) for item in items]
        results = []
        for future in futures:
            results.append(future.result())
            if on_done is not None:
                on_done()
        return results
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
