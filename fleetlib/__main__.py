"""`python -m fleetlib` is the `fleet` command."""

import sys

from fleetlib.cli import main

sys.exit(main())
