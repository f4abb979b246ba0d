"""Run one Terraform command so that a cancelled job still lets Terraform clean up.

When GitHub cancels a job, the runner signals the step's process (SIGINT, later SIGTERM)
and then kills what is left. `subprocess.run` reacts to KeyboardInterrupt by killing its
child, so a Terraform holding the state lock (`cio/<env>/default.tflock`) would die
without releasing it, and every later plan or apply would wait on it until someone ran
`terraform force-unlock`.

Here Terraform runs in its own session (a signal sent to our process group does not reach
it twice: two interrupts make Terraform exit at once), each SIGINT, SIGTERM or SIGHUP we
receive is passed to it, and we wait for it to exit: Terraform stops gracefully and
releases the lock. The caller learns of the interruption through `Interrupted`.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(Exception):
    """Terraform was stopped by a forwarded signal; it has exited."""

    def __init__(self, signum: int, returncode: int) -> None:
        self.signum = signum
        self.returncode = returncode
        super().__init__(f"interrupted by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal."""
        return 128 + self.signum


def run(argv: Sequence[str], *, stdout: int | None = None) -> int:
    """Run argv, forwarding signals to it and waiting for it; its exit code.

    Raises Interrupted (after Terraform exited) when a signal arrived while it ran.
    """
    process = subprocess.Popen(list(argv), stdout=stdout, start_new_session=True)
    received: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        name = signal.Signals(signum).name
        print(
            f"terraform_run: {name} received; passed to terraform (pid {process.pid}), "
            "waiting for it to stop and release the state lock",
            file=sys.stderr,
            flush=True,
        )
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED}
    try:
        returncode = process.wait()  # retried after each handled signal (PEP 475)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        raise Interrupted(received[0], returncode)
    return returncode
