"""People and their identifiers, as Customer.io models them.

A person has a canonical `cio_id` plus optional `id`, `email` (case-insensitive) and `phone`.
Every attribute keeps the timestamp of the update that set it, so an update carrying an older
`_timestamp` (v1) / `timestamp` (v2) than the stored one does not overwrite newer values.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

IDENTIFIER_KINDS = ("id", "email", "phone")


@dataclass(frozen=True)
class Ref:
    """A reference to a person: kind is id, email, phone or cio_id."""

    kind: str
    value: str

    @classmethod
    def from_path(cls, value: str) -> Ref:
        """v1 paths: `cio_<x>` is a cio_id, a value with `@` an email, anything else an id."""
        if value.startswith("cio_"):
            return cls("cio_id", value[4:])
        if "@" in value:
            return cls("email", value)
        return cls("id", value)

    @classmethod
    def from_identifiers(cls, identifiers: dict[str, Any]) -> Ref:
        """v2 `identifiers` / merge objects: exactly one of id, email, phone, cio_id."""
        for kind in ("cio_id", *IDENTIFIER_KINDS):
            if identifiers.get(kind) not in (None, ""):
                value = str(identifiers[kind])
                if kind == "cio_id" and value.startswith("cio_"):
                    value = value[4:]
                return cls(kind, value)
        raise ValueError("identifiers must hold one of id, email, phone or cio_id")

    def key(self) -> tuple[str, str]:
        return (self.kind, normalize(self.kind, self.value))

    def public(self) -> dict[str, str]:
        return {self.kind: self.value}


def normalize(kind: str, value: str) -> str:
    return value.lower() if kind == "email" else value


@dataclass
class AttributeUpdate:
    """What one update did: attributes changed (old, new), and names skipped as stale."""

    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)


@dataclass
class Person:
    cio_id: str
    identifiers: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    attribute_timestamps: dict[str, float] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    relationships: list[dict[str, Any]] = field(default_factory=list)
    segments: set[int] = field(default_factory=set)

    def refs(self) -> list[Ref]:
        return [Ref("cio_id", self.cio_id)] + [Ref(k, v) for k, v in self.identifiers.items()]

    def set_attributes(self, attributes: dict[str, Any], timestamp: float) -> AttributeUpdate:
        """Apply values not older than what is stored.

        A null or empty-string value removes the attribute (its timestamp is kept, so an older
        update cannot bring it back).
        """
        update = AttributeUpdate()
        for name, value in attributes.items():
            if self.attribute_timestamps.get(name, float("-inf")) > timestamp:
                update.stale.append(name)
                continue
            self.attribute_timestamps[name] = timestamp
            old = self.attributes.get(name)
            if value is None or value == "":
                self.attributes.pop(name, None)
            else:
                self.attributes[name] = value
            if old != self.attributes.get(name):
                update.changed[name] = (old, self.attributes.get(name))
        return update

    def snapshot(self) -> dict[str, Any]:
        return {
            "cio_id": self.cio_id,
            "identifiers": {"cio_id": self.cio_id, **self.identifiers},
            "attributes": dict(self.attributes),
            "attribute_timestamps": dict(self.attribute_timestamps),
            "created": self.created,
            "devices": list(self.devices.values()),
            "relationships": list(self.relationships),
            "segments": sorted(self.segments),
        }


class PeopleIndex:
    """People by cio_id, with a lookup from every identifier. Not thread-safe on its own."""

    def __init__(self) -> None:
        self.people: dict[str, Person] = {}
        self._by_identifier: dict[tuple[str, str], str] = {}
        self._cio_ids = itertools.count(0x03000001)

    def find(self, ref: Ref) -> Person | None:
        if ref.kind == "cio_id":
            return self.people.get(ref.value)
        cio_id = self._by_identifier.get(ref.key())
        return self.people.get(cio_id) if cio_id else None

    def owner(self, kind: str, value: str) -> Person | None:
        return self.find(Ref(kind, value))

    def create(self, cio_id: str | None = None) -> Person:
        new_id = cio_id or f"{next(self._cio_ids):08x}"
        while new_id in self.people:
            new_id = f"{next(self._cio_ids):08x}"
        person = Person(new_id)
        self.people[new_id] = person
        return person

    def set_identifier(self, person: Person, kind: str, value: str) -> None:
        old = person.identifiers.get(kind)
        if old is not None:
            self._by_identifier.pop((kind, normalize(kind, old)), None)
        person.identifiers[kind] = value
        self._by_identifier[(kind, normalize(kind, value))] = person.cio_id

    def remove(self, person: Person) -> None:
        for kind, value in person.identifiers.items():
            self._by_identifier.pop((kind, normalize(kind, value)), None)
        self.people.pop(person.cio_id, None)

    def clear(self) -> None:
        self.people.clear()
        self._by_identifier.clear()
