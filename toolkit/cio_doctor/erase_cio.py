"""Erasure at Customer.io, checked through the App API: is the profile still there?

A profile lookup by id or cio_id (`GET /v1/customers/{id}/attributes?id_type=...`) answers 404
once the person is deleted or suppressed; by email (`GET /v1/customers?email=`) it lists no
one. The App API offers no lookup of Customer.io's suppression list, so the suppression itself
is proven by its effect (a later identify or event for the identifier changes nothing).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import quote

from cio_shared.contract import person_hash

from cio_doctor.app_lookup import stop_on_access_problem
from cio_doctor.cio_http import CioClient, explain_failure
from cio_doctor.erase_request import KINDS, Subject
from cio_doctor.findings import CannotCheck

POLL_S = 0.5


@dataclass
class Profile:
    present: bool
    hashes: set[str] = field(default_factory=set)  # every identifier the profile has


def lookup(client: CioClient, subject: Subject) -> Profile:
    if subject.kind == "email":
        call = client.get("/v1/customers", {"email": subject.value})
        stop_on_access_problem(call, "looking up the person")
        if not call.ok:
            raise CannotCheck(explain_failure(call, "looking up the person"))
        results = (call.json() or {}).get("results") or []
        if not results:
            return Profile(False)
        first = results[0]
        kind, value = ("cio_id", first["cio_id"]) if first.get("cio_id") else ("id", first["id"])
        subject = Subject(kind, str(value))
    path = f"/v1/customers/{quote(subject.value, safe='')}/attributes"
    call = client.get(path, {"id_type": subject.kind})
    stop_on_access_problem(call, "reading the person")
    if call.status == 404:
        return Profile(False)
    if not call.ok:
        raise CannotCheck(explain_failure(call, "reading the person"))
    customer = (call.json() or {}).get("customer") or {}
    identifiers = {**(customer.get("attributes") or {}), **(customer.get("identifiers") or {})}
    hashes = {_hash(kind, str(identifiers[kind])) for kind in KINDS if identifiers.get(kind)}
    return Profile(True, hashes | {subject.hash})


def wait_gone(client: CioClient, subject: Subject, seconds: float) -> bool:
    """Poll until the profile is gone or `seconds` passed; True when gone."""
    deadline = time.monotonic() + seconds
    while True:
        if not lookup(client, subject).present:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)


def _hash(kind: str, value: str) -> str:
    """The ledger's hash; the App API may show a cio_id with its `cio_` path prefix."""
    return person_hash(kind, value.removeprefix("cio_") if kind == "cio_id" else value)
