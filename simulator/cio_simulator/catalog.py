"""App-API-side workspace data that only Customer.io itself produces: segments, campaigns and
their actions and metrics, messages (deliveries), activities, and the email provider's
suppressions (bounces, spam reports, blocks, invalid addresses).

Tests and local runs put it here with `POST /_admin/seed` (see README for the shape); people
seeded there go into the same workspace the Track API writes, so both APIs see one world.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from cio_simulator.http import ApiError
from cio_simulator.people import Ref
from cio_simulator.workspace import Workspace

CAMPAIGN_STATES = ("running", "paused", "draft", "stopped")
ESP_SUPPRESSION_TYPES = ("bounces", "blocks", "spam_reports", "invalid_emails")


class Catalog:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.segments: dict[int, dict[str, Any]] = {}
            self.campaigns: dict[int, dict[str, Any]] = {}
            self.messages: dict[str, dict[str, Any]] = {}
            self.activities: list[dict[str, Any]] = []
            self.esp_suppressions: list[dict[str, Any]] = []
            self._message_ids = itertools.count(1)
            self._activity_ids = itertools.count(1)

    # -- seeding ----------------------------------------------------------------------------------

    def seed(self, data: dict[str, Any]) -> dict[str, int]:
        """Add what `data` describes; returns how many of each kind were added."""
        seeders: dict[str, Callable[[dict[str, Any]], Any]] = {
            "segments": self._seed_segment,
            "campaigns": self._seed_campaign,
            "people": self._seed_person,
            "messages": self._seed_message,
            "activities": self._seed_activity,
            "esp_suppressions": self._seed_esp_suppression,
            "suppressed": lambda identifiers: self.workspace.suppress(_ref(identifiers)),
        }
        unknown = set(data) - set(seeders)
        if unknown:
            raise ApiError(
                400, message=f"unknown seed keys {sorted(unknown)}; known: {sorted(seeders)}"
            )
        with self.lock:
            for key, seeder in seeders.items():  # segments and people before what refers to them
                for item in data.get(key, []):
                    seeder(item)
        return {key: len(value) for key, value in data.items() if isinstance(value, list)}

    def _seed_segment(self, segment: dict[str, Any]) -> None:
        segment_id = int(_required(segment, "id", "segment"))
        self.segments[segment_id] = {
            "id": segment_id,
            "deduplicate_id": f"{segment_id}:{int(time.time())}",
            "name": segment.get("name", f"Segment {segment_id}"),
            "description": segment.get("description", ""),
            "state": segment.get("state", "finished"),
            "progress": segment.get("progress"),
            "type": segment.get("type", "dynamic"),
            "tags": segment.get("tags", []),
        }

    def _seed_campaign(self, campaign: dict[str, Any]) -> None:
        campaign_id = int(_required(campaign, "id", "campaign"))
        state = campaign.get("state", "running")
        if state not in CAMPAIGN_STATES:
            raise ApiError(
                400, message=f"campaign state {state!r} must be one of {CAMPAIGN_STATES}"
            )
        now = int(time.time())
        actions = []
        for index, action in enumerate(campaign.get("actions", [])):
            action_id = int(action.get("id", campaign_id * 100 + index + 1))
            actions.append(
                {
                    "id": action_id,
                    "campaign_id": campaign_id,
                    "parent_action_id": action.get("parent_action_id"),
                    "deduplicate_id": f"{action_id}:{now}",
                    "name": action.get("name", f"Action {action_id}"),
                    "layout": action.get("layout", ""),
                    "created": action.get("created", now),
                    "updated": action.get("updated", now),
                    "body": action.get("body", ""),
                    "language": action.get("language", ""),
                    "type": action.get("type", "email"),
                    "sending_state": action.get("sending_state", "automatic"),
                    "subject": action.get("subject", ""),
                    "recipient": action.get("recipient", "{{customer.email}}"),
                    "metrics": action.get("metrics", {}),
                    "delivery_errors": action.get("delivery_errors", []),
                }
            )
        trigger = campaign.get("trigger", {})
        self.campaigns[campaign_id] = {
            "id": campaign_id,
            "deduplicate_id": f"{campaign_id}:{now}",
            "name": campaign.get("name", f"Campaign {campaign_id}"),
            "type": campaign.get("type", "event" if trigger.get("event_name") else "segment"),
            "created": campaign.get("created", now),
            "updated": campaign.get("updated", now),
            "active": state == "running",
            "state": state,
            "actions": [{"id": a["id"], "type": a["type"]} for a in actions],
            "first_started": campaign.get("first_started", now if state != "draft" else 0),
            "created_by": campaign.get("created_by", "simulator"),
            "tags": campaign.get("tags", []),
            "event_name": trigger.get("event_name"),
            "trigger_segment_ids": trigger.get("segment_ids", []),
            "filter_segment_ids": trigger.get("filter_segment_ids", []),
            "msg_templates": [{"id": a["id"], "type": a["type"]} for a in actions],
            "_action_details": actions,
            "_metrics": campaign.get("metrics", {}),
        }

    def _seed_person(self, person: dict[str, Any]) -> None:
        identifiers = {k: person[k] for k in ("id", "email", "phone") if person.get(k)}
        if not identifiers and not person.get("cio_id"):
            raise ApiError(400, message="a seeded person needs id, email, phone or cio_id")
        attributes = {**person.get("attributes", {}), **identifiers}
        if "unsubscribed" in person:
            attributes["unsubscribed"] = person["unsubscribed"]
        workspace = self.workspace
        with workspace.lock:
            found = (
                workspace.people.find(Ref("cio_id", person["cio_id"]))
                if person.get("cio_id")
                else None
            )
            target = found or workspace.people.create(person.get("cio_id"))
            for kind, value in identifiers.items():
                workspace.people.set_identifier(target, kind, str(value))
            target.set_attributes(attributes, float(person.get("timestamp", time.time())))
            target.segments |= {int(s) for s in person.get("segments", [])}
            for device in person.get("devices", []):
                target.devices[str(device["id"])] = dict(device)
            for segment_id in target.segments - set(self.segments):
                self._seed_segment({"id": segment_id})

    def _seed_message(self, message: dict[str, Any]) -> None:
        message_id = str(message.get("id") or f"sim-msg-{next(self._message_ids)}")
        now = int(time.time())
        ref = _ref(message.get("customer_identifiers") or {"id": message.get("customer_id")})
        stored = {
            "id": message_id,
            "deduplicate_id": f"{message_id}:{now}",
            "message_template_id": message.get("action_id"),
            "customer_id": message.get("customer_id"),
            "customer_identifiers": self._identifiers(ref),
            "recipient": message.get("recipient", ""),
            "subject": message.get("subject", ""),
            "type": message.get("type", "email"),
            "campaign_id": message.get("campaign_id"),
            "action_id": message.get("action_id"),
            "parent_action_id": message.get("parent_action_id"),
            "broadcast_id": message.get("broadcast_id"),
            "newsletter_id": message.get("newsletter_id"),
            "content_id": message.get("content_id"),
            "trigger_event_id": message.get("trigger_event_id"),
            "created": message.get("created", now),
            "forgotten": message.get("forgotten", False),
            "failure_message": message.get("failure_message"),
            "metrics": message.get("metrics", {"sent": now}),
        }
        self.messages[message_id] = stored

    def _seed_activity(self, activity: dict[str, Any]) -> None:
        activity_id = str(activity.get("id") or f"sim-act-{next(self._activity_ids)}")
        ref = _ref(activity.get("customer_identifiers") or {"id": activity.get("customer_id")})
        self.activities.append(
            {
                "id": activity_id,
                "customer_id": activity.get("customer_id")
                or (ref.value if ref.kind == "id" else None),
                "customer_identifiers": self._identifiers(ref),
                "type": activity.get("type", "event"),
                "name": activity.get("name"),
                "timestamp": activity.get("timestamp", int(time.time())),
                "delivery_id": activity.get("delivery_id"),
                "delivery_type": activity.get("delivery_type"),
                "data": activity.get("data", {}),
            }
        )

    def _seed_esp_suppression(self, suppression: dict[str, Any]) -> None:
        kind = suppression.get("type", "bounces")
        if kind not in ESP_SUPPRESSION_TYPES:
            raise ApiError(
                400, message=f"esp suppression type {kind!r} must be one of {ESP_SUPPRESSION_TYPES}"
            )
        self.esp_suppressions.append(
            {
                "type": kind,
                "email": _required(suppression, "email", "esp suppression"),
                "reason": suppression.get("reason", ""),
                "created": suppression.get("created", int(time.time())),
                "status": suppression.get("status", ""),
            }
        )

    def _identifiers(self, ref: Ref) -> dict[str, Any]:
        """`customer_identifiers` as the App API shows them: email, id and cio_id, null if unset."""
        person = self.workspace.people.find(ref)
        if person is None:
            return {"email": None, "id": None, "cio_id": None, ref.kind: ref.value}
        return {
            "email": person.identifiers.get("email"),
            "id": person.identifiers.get("id"),
            "cio_id": person.cio_id,
        }

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "segments": list(self.segments.values()),
                "campaigns": [_public_campaign(c) for c in self.campaigns.values()],
                "messages": list(self.messages.values()),
                "activities": list(self.activities),
                "esp_suppressions": list(self.esp_suppressions),
            }


def _public_campaign(campaign: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in campaign.items() if not k.startswith("_")}


def _required(data: dict[str, Any], key: str, what: str) -> Any:
    if data.get(key) in (None, ""):
        raise ApiError(400, message=f"a seeded {what} needs {key!r}")
    return data[key]


def _ref(identifiers: dict[str, Any]) -> Ref:
    try:
        return Ref.from_identifiers(identifiers)
    except ValueError as exc:
        raise ApiError(400, message=f"seed: {exc}") from exc
