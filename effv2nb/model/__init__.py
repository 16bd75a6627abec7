"""Notebooks 00-01, ``train-tiny`` and ``complexity``: models and weights, tiny, blocks, stage tables, complexity, the paper's claims."""
