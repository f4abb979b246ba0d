"""Who an erasure is for: the identifiers given (`--person`, `--file`), their hashes, the
request id a rerun continues, and the identifier hashes found in a payload.

Nothing here keeps an identifier beyond the run: state and audit hold `person_hash` values
(`cio_shared.contract.person_hash`, SHA-256 of `kind:value`) only.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cio_shared.common import redact_email
from cio_shared.contract import person_hash

from cio_doctor.findings import CannotCheck

KINDS = ("id", "email", "cio_id")
MODES = ("suppress", "delete")
_HEADERS = {"person", "identifier"}
MAX_FILE_PEOPLE = 1000
# Where a payload names a person: Pub/Sub messages (`person`, `secondary`, `identifiers`),
# reporting-webhook events (`data.identifiers`, `data.customer_id`, `data.email_address`,
# `data.recipient`) and transactional sends (`to`).
_PERSON_KEYS = ("person", "secondary", "identifiers")
_FIELD_KINDS = {"customer_id": "id", "email_address": "email", "recipient": "email", "to": "email"}


@dataclass(frozen=True)
class Subject:
    """One identifier of the person to erase, as given by the operator."""

    kind: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Subject:
        """`email:a@b.c`, `cio_id:x`, `id:42`, or a bare value (an email when it has `@`)."""
        text = text.strip()
        kind, sep, rest = text.partition(":")
        if sep and kind in KINDS:
            value = rest.strip()
        else:
            kind, value = ("email" if "@" in text else "id"), text
        if not value:
            raise CannotCheck(f"empty identifier in {redact_email(text)!r}")
        return cls(kind, value)

    @property
    def hash(self) -> str:
        return person_hash(self.kind, self.value)

    @property
    def request_id(self) -> str:
        """Stable per identifier, so a rerun continues the same request."""
        return f"er_{self.hash[:24]}"

    def shown(self) -> str:
        """For reports: the kind and a shortened value (emails as j***@example.com)."""
        if self.kind == "email":
            return f"email:{redact_email(self.value)}"
        return f"{self.kind}:{self.value[:2]}***" if len(self.value) > 4 else f"{self.kind}:***"

    def person(self) -> dict[str, str]:
        return {self.kind: self.value}


def subjects(person: str | None, file: Path | None) -> list[Subject]:
    """The people of one invocation: `--person`, and each row's first cell of `--file`."""
    found = [Subject.parse(person)] if person else []
    if file is not None:
        found.extend(Subject.parse(cell) for cell in _cells(file))
    if not found:
        raise CannotCheck("say whom to erase: --person ID or --file ids.csv")
    unique = list(dict.fromkeys(found))
    if len(unique) > MAX_FILE_PEOPLE:
        raise CannotCheck(
            f"{len(unique)} people in one run; split the file (at most {MAX_FILE_PEOPLE})"
        )
    return unique


def _cells(file: Path) -> Iterator[str]:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CannotCheck(f"--file {file}: {type(exc).__name__}") from None
    for number, row in enumerate(csv.reader(text.splitlines())):
        cell = row[0].strip() if row else ""
        if not cell or cell.startswith("#") or (number == 0 and cell.lower() in _HEADERS):
            continue
        yield cell


def payload_hashes(data: bytes) -> set[str]:
    """The person hashes a JSON payload names (empty for anything else)."""
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return set()
    found: set[str] = set()
    for node in _objects(body, depth=0):
        for key in _PERSON_KEYS:
            found.update(_identifier_hashes(node.get(key)))
        for key, kind in _FIELD_KINDS.items():
            value = node.get(key)
            if isinstance(value, str | int) and (kind != "email" or "@" in str(value)):
                found.add(person_hash(kind, str(value)))
    return found


def _objects(value: Any, depth: int) -> Iterator[dict[str, Any]]:
    """Every JSON object in `value`, at most a few levels down (webhook `data`, a body)."""
    if depth > 3:
        return
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _objects(child, depth + 1)
    elif isinstance(value, list):
        for child in value[:100]:
            yield from _objects(child, depth + 1)


def _identifier_hashes(value: Any) -> Iterable[str]:
    if not isinstance(value, dict):
        return ()
    return {
        person_hash(kind, str(value[kind]))
        for kind in KINDS
        if isinstance(value.get(kind), str | int) and str(value[kind]).strip()
    }


def mentions(data: bytes, subject: Subject) -> bool:
    """A safety net beside the structured match: the email itself appears in the bytes."""
    return subject.kind == "email" and subject.value.lower().encode() in data.lower()
