"""``python -m effv2nb COMMAND``: one module per command, each with ``add_arguments(p)`` and ``run(args) -> int``."""
