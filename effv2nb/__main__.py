import sys

from effv2nb.cli.main import main

sys.exit(main())
