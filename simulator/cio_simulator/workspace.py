"""One Customer.io workspace's Track-side state and the operations the Track API performs.

Every public method takes the workspace lock, so API handlers may call them from any thread.
Operations Customer.io accepts but ignores (`_update` for an unknown person, a suppressed
identifier, an unknown `cio_id`, a merge whose primary does not exist) answer 200 in the API and
are recorded in `ignored` with the reason, so tests can see why nothing changed.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

from cio_simulator.people import IDENTIFIER_KINDS, PeopleIndex, Person, Ref, normalize

RESERVED_IDENTIFY_KEYS = ("_timestamp", "_update", "cio_relationships")


class Workspace:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._clear()

    def _clear(self) -> None:
        self.people = PeopleIndex()
        self.events: dict[str, dict[str, Any]] = {}
        self.suppressed: dict[tuple[str, str], dict[str, Any]] = {}
        self.merges: list[dict[str, Any]] = []
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.deliveries: list[dict[str, Any]] = []
        self.ignored: list[dict[str, Any]] = []
        self.activities: list[dict[str, Any]] = []
        self.stale_updates = 0
        self._event_keys = itertools.count(1)

    # -- people -----------------------------------------------------------------------------

    def identify(
        self,
        ref: Ref,
        attributes: dict[str, Any],
        timestamp: float | None = None,
        update_only: bool = False,
        relationships: list[dict[str, Any]] | None = None,
    ) -> str:
        """Create or update a person; returns "created", "updated" or "ignored"."""
        with self.lock:
            if self._is_suppressed(ref):
                return self._ignore("identify", ref, "identifier is suppressed")
            person = self.people.find(ref)
            if person is None and ref.kind == "cio_id":
                return self._ignore("identify", ref, "cio_id does not exist")
            found_by_path = person is not None
            if person is None:
                person = self._owner_of_body_identifiers(attributes)
            created = person is None
            if person is None:
                if update_only:
                    return self._ignore("identify", ref, "_update is true and no person matches")
                person = self.people.create()
            if ref.kind != "cio_id" and not found_by_path:
                # The path identifier belongs to nobody: the person (new, or found by an
                # identifier in the body) gets it, replacing a previous one (the docs' "Tip").
                self.people.set_identifier(person, ref.kind, ref.value)
            refused = self._update_identifiers(person, ref, attributes)
            values = {
                k: v
                for k, v in attributes.items()
                if k not in RESERVED_IDENTIFY_KEYS and k not in refused
            }
            update = person.set_attributes(
                values, timestamp if timestamp is not None else time.time()
            )
            self.stale_updates += len(update.stale)
            if update.changed:
                data = {
                    k: {"from": _text(old), "to": _text(new)}
                    for k, (old, new) in update.changed.items()
                }
                self._activity(person, "attribute_change", data)
            if relationships:
                person.relationships.extend(relationships)
            return "created" if created else "updated"

    def _owner_of_body_identifiers(self, attributes: dict[str, Any]) -> Person | None:
        for kind in IDENTIFIER_KINDS:
            value = attributes.get(kind)
            if isinstance(value, str) and value:
                owner = self.people.owner(kind, value)
                if owner is not None:
                    return owner
        return None

    def _update_identifiers(self, person: Person, ref: Ref, attributes: dict[str, Any]) -> set[str]:
        """Identifiers in the body: set when empty, change only when referenced by cio_id.

        Returns the kinds refused (an *Attribute Update Failure* in Customer.io's activity log),
        which are then not stored as attributes either.
        """
        refused: set[str] = set()
        for kind in IDENTIFIER_KINDS:
            value = attributes.get(kind)
            if not isinstance(value, str) or not value:
                continue
            owner = self.people.owner(kind, value)
            if owner is not None and owner is not person:
                refused.add(kind)
                self._failed_change(person, kind, value)
                self._ignore(
                    "identify", ref, f"attribute update failure: {kind} belongs to another person"
                )
                continue
            current = person.identifiers.get(kind)
            if current is None or ref.kind == "cio_id":
                self.people.set_identifier(person, kind, value)
            elif normalize(kind, current) != normalize(kind, value):
                refused.add(kind)
                self._failed_change(person, kind, value)
                self._ignore(
                    "identify", ref, f"changing {kind} requires referencing the person by cio_id"
                )
        return refused

    def person_relationships(
        self, ref: Ref, action: str, relationships: list[dict[str, Any]]
    ) -> str:
        with self.lock:
            person = self.people.find(ref)
            if person is None:
                return self._ignore(action, ref, "no person matches")
            if action == "add_relationships":
                person.relationships.extend(relationships)
            else:
                gone = [r.get("identifiers") for r in relationships]
                person.relationships = [
                    r for r in person.relationships if r.get("identifiers") not in gone
                ]
            return "stored"

    def delete(self, ref: Ref) -> str:
        with self.lock:
            person = self.people.find(ref)
            if person is None:
                return self._ignore("delete", ref, "no person matches")
            self.people.remove(person)
            return "deleted"

    def suppress(self, ref: Ref) -> str:
        """Delete the person and suppress every identifier they had (or the one given)."""
        with self.lock:
            person = self.people.find(ref)
            refs = [r for r in person.refs() if r.kind != "cio_id"] if person else [ref]
            for item in refs:
                self.suppressed[item.key()] = {**item.public(), "suppressed_at": time.time()}
            if person is not None:
                self.people.remove(person)
            return "suppressed"

    def unsuppress(self, ref: Ref) -> str:
        with self.lock:
            found = self.suppressed.pop(ref.key(), None)
            return "unsuppressed" if found else self._ignore("unsuppress", ref, "not suppressed")

    def _is_suppressed(self, ref: Ref) -> bool:
        return ref.key() in self.suppressed

    def add_device(self, ref: Ref, device: dict[str, Any]) -> str:
        with self.lock:
            person = self.people.find(ref)
            if person is None:
                return self._ignore("add_device", ref, "no person matches")
            token = str(device.get("id") or device.get("token"))
            stored = {**device, "id": token, "token": token}
            stored.setdefault("last_used", int(time.time()))
            person.devices[token] = stored
            self._activity(person, "device_change", {"device_id": token, "action": "added"})
            return "stored"

    def delete_device(self, ref: Ref, device_id: str) -> str:
        with self.lock:
            person = self.people.find(ref)
            if person is None or person.devices.pop(device_id, None) is None:
                return self._ignore("delete_device", ref, "no such person or device")
            return "deleted"

    def merge(self, primary_ref: Ref, secondary_ref: Ref) -> str:
        """Move what the primary lacks from the secondary, then delete the secondary."""
        with self.lock:
            primary = self.people.find(primary_ref)
            if primary is None:
                return self._ignore("merge", primary_ref, "primary person does not exist")
            secondary = self.people.find(secondary_ref)
            if secondary is not None and secondary is not primary:
                for name, value in secondary.attributes.items():
                    if primary.attributes.get(name) in (None, ""):
                        primary.attributes[name] = value
                        primary.attribute_timestamps[name] = secondary.attribute_timestamps[name]
                for token, device in secondary.devices.items():
                    primary.devices.setdefault(token, device)
                primary.segments |= secondary.segments
                for event in self.events.values():
                    if event["cio_id"] == secondary.cio_id:
                        event["cio_id"] = primary.cio_id
                self.people.remove(secondary)
            self.merges.append(
                {
                    "primary": primary_ref.public(),
                    "secondary": secondary_ref.public(),
                    "secondary_existed": secondary is not None,
                    "at": time.time(),
                }
            )
            return "merged"

    # -- events -----------------------------------------------------------------------------

    def track(self, ref: Ref | None, event: dict[str, Any], api: str) -> str:
        """Store an event; a repeated `id` is counted as a duplicate, not stored again."""
        with self.lock:
            if ref is not None and self._is_suppressed(ref):
                return self._ignore("event", ref, "identifier is suppressed")
            event_id = event.get("id")
            if event_id and event_id in self.events:
                self.events[event_id]["duplicates"] += 1
                return "duplicate"
            key = str(event_id) if event_id else f"no-id-{next(self._event_keys)}"
            person = self.people.find(ref) if ref is not None else None
            self.events[key] = {
                "id": event_id,
                "name": event.get("name"),
                "type": event.get("type", "event"),
                "timestamp": event.get("timestamp"),
                "data": event.get("data", {}),
                "customer": ref.public() if ref is not None else None,
                "anonymous_id": event.get("anonymous_id"),
                "client_message_id": event.get("client_message_id"),
                "cio_id": person.cio_id if person else None,
                "api": api,
                "received_at": time.time(),
                "duplicates": 0,
            }
            return "stored"

    def duplicate_count(self) -> int:
        """How many repeated event ids were accepted and not stored again."""
        with self.lock:
            return sum(e["duplicates"] for e in self.events.values())

    def events_of(self, person: Person) -> list[dict[str, Any]]:
        refs = {r.key() for r in person.refs()}
        with self.lock:
            return [
                e
                for e in self.events.values()
                if e["cio_id"] == person.cio_id
                or (e["customer"] and Ref.from_identifiers(e["customer"]).key() in refs)
            ]

    # -- objects and deliveries ----------------------------------------------------------------

    def object_operation(self, operation: dict[str, Any]) -> str:
        with self.lock:
            identifiers = operation.get("identifiers", {})
            key = (str(identifiers.get("object_type_id")), str(identifiers.get("object_id")))
            action = operation.get("action")
            if action == "delete":
                self.objects.pop(key, None)
                return "deleted"
            stored = self.objects.setdefault(
                key, {"identifiers": dict(identifiers), "attributes": {}, "relationships": []}
            )
            stored["attributes"].update(operation.get("attributes") or {})
            if action == "add_relationships":
                stored["relationships"].extend(operation.get("cio_relationships") or [])
            elif action == "delete_relationships":
                gone = operation.get("cio_relationships") or []
                stored["relationships"] = [
                    r
                    for r in stored["relationships"]
                    if r.get("identifiers") not in [g.get("identifiers") for g in gone]
                ]
            return "stored"

    def delivery_event(self, operation: dict[str, Any]) -> str:
        with self.lock:
            self.deliveries.append({**operation, "received_at": time.time()})
            return "stored"

    # -- bookkeeping ----------------------------------------------------------------------------

    def _activity(self, person: Person, kind: str, data: dict[str, Any]) -> None:
        """An entry of the person's activity log, as the App API lists activities."""
        self.activities.append(
            {"cio_id": person.cio_id, "type": kind, "data": data, "timestamp": int(time.time())}
        )

    def _failed_change(self, person: Person, kind: str, value: str) -> None:
        current = person.identifiers.get(kind)
        self._activity(
            person, "failed_attribute_change", {kind: {"from": _text(current), "to": value}}
        )

    def activities_of(self, person: Person) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(a) for a in self.activities if a["cio_id"] == person.cio_id]

    def _ignore(self, operation: str, ref: Ref, reason: str) -> str:
        self.ignored.append(
            {"operation": operation, "ref": ref.public(), "reason": reason, "at": time.time()}
        )
        return "ignored"

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "people": [p.snapshot() for p in self.people.people.values()],
                "events": [dict(e) for e in self.events.values()],
                "suppressed": list(self.suppressed.values()),
                "merges": list(self.merges),
                "objects": list(self.objects.values()),
                "deliveries": list(self.deliveries),
                "ignored": list(self.ignored),
                "stale_attribute_updates": self.stale_updates,
            }

    def reset(self) -> None:
        with self.lock:
            self._clear()


def _text(value: Any) -> str:
    """Attribute values in activity data are strings; a missing value is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
