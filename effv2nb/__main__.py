"""``python -m effv2nb COMMAND``: every notebook's steps from the command line (``effv2nb.cli.main``)."""
import sys

from effv2nb.cli.main import main

sys.exit(main())
