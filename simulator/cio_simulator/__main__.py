"""`python -m cio_simulator` is `cio-simulator`."""

import sys

from cio_simulator.cli import main

sys.exit(main())
