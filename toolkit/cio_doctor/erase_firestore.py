"""Erasure in Firestore: the Pipelines path's trait watermarks of the person.

In a `customerio.api: pipelines` environment the delivery handlers keep, per person, the
`timestamp` of the newest identify that set each trait (`pipelines-traits/<person hash>` in
the claims database `<prefix>-<env>-claims`; trait names and times, no values). The document
is keyed by the person hash, so it is deleted by hash like the ledger rows. A Track API
environment keeps none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cio_shared.contract import FIRESTORE_PURPOSE, PIPELINES_TRAITS_COLLECTION

from cio_doctor.config import EnvFile
from cio_doctor.findings import CannotCheck
from cio_doctor.gcloud import google_error

TRAITS_COLLECTION = PIPELINES_TRAITS_COLLECTION  # the delivery handlers' (contract)
LOCATION = "firestore.watermarks"


def erase_watermarks(
    env: EnvFile,
    hashes: set[str],
    act: bool,
    client_factory: Callable[[str, str], Any] | None = None,
) -> dict[str, Any]:
    database = env.resource(FIRESTORE_PURPOSE)
    result: dict[str, Any] = {"database": database, "collection": TRAITS_COLLECTION}
    if env.delivery_api != "pipelines":
        return result | {"used": False, "found": 0, "removed": 0, "remaining": 0}
    try:
        client = (client_factory or _firestore_client)(env.project_id, database)
        refs = [client.collection(TRAITS_COLLECTION).document(h) for h in sorted(hashes)]
        found = [s.reference for s in client.get_all(refs) if s.exists]
        if act:
            for ref in found:
                ref.delete()
        remaining = sum(1 for s in client.get_all(refs) if s.exists) if act else len(found)
    except Exception as exc:  # unreachable, denied, no database
        raise CannotCheck(
            f"{database}/{TRAITS_COLLECTION}: {google_error(exc)} (needs roles/datastore.user "
            "on the claims database, or FIRESTORE_EMULATOR_HOST locally)"
        ) from None
    removed = len(found) if act else 0
    return result | {"used": True, "found": len(found), "removed": removed, "remaining": remaining}


def _firestore_client(project: str, database: str) -> Any:
    from cio_shared.transactional import firestore_client

    return firestore_client(project, database)
