"""Notebooks 04-05; ``infer --cluster``, ``int8-report --cluster``: spreading a long run over a Dask cluster.

``connect`` opens the cluster (a ``LocalCluster`` or a running scheduler), ``shards`` cuts an image
list into batch-aligned shards and gathers their results in order, ``infer_tasks`` and ``score_tasks``
are the units of work that run on the workers, ``sums`` the partial scores that merge exactly.
"""
