"""The `cio-doctor` command line: one typer app, one sub-command per check.

The commands live in cli_webhook, cli_dlq, cli_apis, cli_ops and cli_transactional;
importing them registers them on the app defined in cli_common.
"""

from __future__ import annotations

import os
import sys
import traceback

from cio_doctor import (
    cli_apis,
    cli_dlq,
    cli_erase,
    cli_ops,
    cli_trace,
    cli_transactional,
    cli_webhook,
)
from cio_doctor.cli_common import app
from cio_doctor.findings import EXIT_CANNOT_CHECK

COMMAND_MODULES = (
    cli_webhook,
    cli_dlq,
    cli_apis,
    cli_ops,
    cli_transactional,
    cli_erase,
    cli_trace,
)
EXIT_INTERRUPTED = 130


def main() -> None:
    """Run the CLI. A crash must never exit 1 (that means "findings"): it exits 2."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(EXIT_INTERRUPTED) from None
    except Exception as exc:
        from cio_doctor.output import error

        if os.environ.get("CIO_DOCTOR_DEBUG"):
            traceback.print_exc()
        error(
            f"internal error ({type(exc).__name__}): the check could not finish; "
            "set CIO_DOCTOR_DEBUG=1 for the traceback"
        )
        raise SystemExit(EXIT_CANNOT_CHECK) from None


if __name__ == "__main__":
    main()
