"""Notebooks 03-04, ``config``: the vendor's files, one owner each: build YAML, vdsp JSON, result file (docs/vendor-files.md)."""
