"""Notebooks 04-05; ``infer --cluster``, ``int8-report --cluster``: shards of an image list, gathered in order.

A shard is a run of consecutive images of the sorted list, ``SHARD_BATCHES`` batches long and
starting on a batch boundary, so a shard's batches are the very batches a serial run makes and
its results are the serial run's, bit for bit. ``gather_in_order`` keeps at most ``window`` shards
in flight (a bounded queue: the client's memory stays flat however long the list) and yields
their results in list order, whatever order the workers finish in. A worker that dies takes its
shard with it; the scheduler gives that shard to another worker, and it is simply computed again.
"""
from __future__ import annotations

import collections

SHARD_BATCHES = 8          # batches per shard: big enough to amortise a task, small enough to balance


def shard_ranges(n: int, batch: int, start: int = 0, shard_images: int | None = None) -> list:
    """``(i, j)`` ranges over ``n`` images from ``start``, each a whole number of batches (the last may be short)."""
    batch = max(1, int(batch))
    size = int(shard_images or SHARD_BATCHES * batch)
    size = max(batch, size // batch * batch)
    return [(i, min(i + size, n)) for i in range(int(start), n, size)]


def gather_in_order(client, submit, ranges, window: int | None = None):
    """Yield ``submit(i, j)``'s results (``client.submit`` futures) in the order of ``ranges``.

    ``window``: shards in flight at once (default: 2 per worker, at least 2).
    """
    from dask.distributed import as_completed

    if window is None:
        window = max(2, 2 * len(client.scheduler_info().get("workers", {})))
    todo = collections.deque(ranges)
    pending = {}
    order = collections.deque()
    ready = {}
    ac = as_completed()
    while todo and len(pending) < window:
        r = todo.popleft()
        fut = submit(*r)
        pending[fut.key] = r
        order.append(r)
        ac.add(fut)
    for fut in ac:
        r = pending.pop(fut.key)
        ready[r] = fut.result()          # re-raises a task's error here, in the client
        fut.release()
        while order and order[0] in ready:
            yield ready.pop(order.popleft())
        if todo:
            r = todo.popleft()
            nxt = submit(*r)
            pending[nxt.key] = r
            order.append(r)
            ac.add(nxt)
