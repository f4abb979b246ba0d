"""What every check family says when a call did not answer or was refused."""

from __future__ import annotations

from stacks.preflight import errors
from stacks.preflight.clients import Clients
from stacks.preflight.results import Result, unchecked


def could_not_check(
    check: str, subject: str, service: str, clients: Clients, exc: BaseException, needs: str
) -> Result:
    """A call failed without a verdict: unreachable, refused (403) or another error.

    `needs` names the permission (and a role holding it) the check's identity must have.
    """
    reason = errors.describe(exc)
    if errors.is_unreachable(exc):
        return unchecked(
            check,
            subject,
            f"cannot reach {service} at {clients.where(service)}",
            f"{reason}; check the network, proxy or firewall and run preflight again",
        )
    if errors.is_permission_denied(exc):
        return unchecked(
            check,
            subject,
            f"{service} refused the request ({reason})",
            f"the identity running preflight needs {needs}; a 403 can also mean the resource "
            "does not exist and the caller may not know",
        )
    return unchecked(check, subject, f"{service} answered with an error ({reason})")
