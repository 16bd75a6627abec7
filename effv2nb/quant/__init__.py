"""Notebook 05, ``int8-report``: int8 recipes, exact and host paths, per-layer error, search, report."""
