"""``python -m onecycle``: the command line, as the ``onecycle`` script runs it."""

import sys

from onecycle.cli import main

sys.exit(main())
