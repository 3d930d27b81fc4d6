"""``python -m convroute.cli``: every command, as the ``convroute`` script."""

import sys

from convroute.cli.main import main

sys.exit(main())
