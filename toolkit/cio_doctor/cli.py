"""The `cio-doctor` command line: one typer app, one sub-command per check.

The commands live in cli_webhook, cli_dlq, cli_apis and cli_ops; importing them registers
them on the app defined in cli_common.
"""

from __future__ import annotations

from cio_doctor import cli_apis, cli_dlq, cli_ops, cli_webhook
from cio_doctor.cli_common import app

COMMAND_MODULES = (cli_webhook, cli_dlq, cli_apis, cli_ops)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
