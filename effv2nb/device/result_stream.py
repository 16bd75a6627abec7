"""Notebook 04, ``python -m effv2nb infer``: batch results, in path order, into the resumable result file.

``write_stream(batches, journal, ...)`` takes ``BatchResult``s in the order of the sorted image list —
from the local pipeline (``effv2nb.device.infer.iter_batches``) or from a Dask cluster
(``effv2nb.cluster.shards``) — formats their lines in the vendor's format and appends them to the
``ResultJournal`` as they come. Memory stays flat: nothing is kept but counts. The class names
come from the first batch's number of classes (``labels_for``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from effv2nb.formats import result_file as results


@dataclass
class StreamStats:
    images: int = 0                 # predictions written in this run
    resumed: int = 0                # images an earlier run had done
    seconds: float = 0.0
    failed: list = field(default_factory=list)
    first: object = None            # the first prediction (a single image's top-k is printed)
    labels: object = None

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


def write_stream(batches, journal, total: int, label_factory, progress: bool = True, desc: str = "infer",
                 skipped_before=()) -> StreamStats:
    """Append every batch's lines to ``journal``; ``label_factory(num_classes)`` gives the class names."""
    from effv2nb.device.infer import progress_bar

    stats = StreamStats(resumed=journal.done, failed=list(skipped_before))
    bar = progress_bar(total, initial=journal.done, desc=desc, enabled=progress)
    t0 = time.perf_counter()
    try:
        for res in batches:
            text = ""
            if res.preds:
                if stats.labels is None:
                    stats.labels = label_factory(_num_classes(res.preds))
                    stats.first = res.preds[0]
                lab = stats.labels
                text = "".join(results.format_record(str(p.path), p.ids, p.probs, [lab.name(i) for i in p.ids])
                               for p in res.preds)
            journal.add(res.stop, text, [(str(p), r) for p, r in res.failed])
            stats.images += len(res.preds)
            stats.failed.extend(res.failed)
            if bar is not None:
                bar.update(len(res.preds) + len(res.failed))
    finally:
        stats.seconds = time.perf_counter() - t0
        if bar is not None:
            bar.close()
    return stats


def _num_classes(preds) -> int:
    p = preds[0]
    n = getattr(p, "num_classes", None)
    return int(n) if n else max(max(q.ids) for q in preds) + 1
