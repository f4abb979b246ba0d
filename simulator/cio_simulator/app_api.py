"""The App API (`https://api.customer.io/v1/...`, bearer App API key): read-side lookups.

Shapes follow Customer.io's App API reference (customerAttributesObject, messageObject,
activityObject, campaignObject, segmentResponseObject, esp_suppression in the document's
components). People come from the same workspace the Track API writes; campaigns, messages,
segments, activities and ESP suppressions come from the catalog (`POST /_admin/seed`), plus the
events the Track API stored, shown as `event` activities.
"""

from __future__ import annotations

import json
from typing import Any

from cio_simulator.catalog import ESP_SUPPRESSION_TYPES, Catalog, _public_campaign
from cio_simulator.http import ApiError, Request, Response, Router
from cio_simulator.people import Person, Ref
from cio_simulator.workspace import Workspace

ID_TYPES = ("id", "email", "phone", "cio_id")
# Email (custom SMTP) and webhook source addresses from Customer.io's "Allowlist our IP
# addresses" page; the simulator answers with them but sends from 127.0.0.1 of course.
WEBHOOK_IPS = {
    "us": (
        "35.188.196.183",
        "104.198.177.219",
        "104.154.232.87",
        "130.211.229.195",
        "104.198.221.24",
        "104.197.27.15",
        "35.194.9.154",
        "104.154.144.51",
        "104.197.210.12",
        "35.225.6.73",
        "35.192.215.166",
        "34.170.204.100",
    ),
    "eu": (
        "34.76.143.229",
        "34.78.91.47",
        "34.77.94.252",
        "35.187.188.242",
        "34.78.122.90",
        "35.195.137.235",
        "130.211.108.156",
        "104.199.50.18",
        "34.78.44.80",
        "35.205.31.154",
    ),
}
DEFAULT_LIMIT = 50


def not_found(what: str) -> ApiError:
    return ApiError(
        404, {"meta": {"error": f"{what} not found"}}, f"{what} not found", outcome="not_found"
    )


class AppApi:
    def __init__(self, workspace: Workspace, catalog: Catalog, region: str = "us") -> None:
        self.workspace = workspace
        self.catalog = catalog
        self.region = region

    def register(self, router: Router) -> None:
        router.add("GET", "/v1/customers", self.customers_by_email)
        router.add("POST", "/v1/customers", self.search_customers)
        router.add("GET", "/v1/customers/{customer_id}/attributes", self.attributes)
        router.add("GET", "/v1/customers/{customer_id}/messages", self.person_messages)
        router.add("GET", "/v1/customers/{customer_id}/activities", self.person_activities)
        router.add("GET", "/v1/customers/{customer_id}/segments", self.person_segments)
        router.add("GET", "/v1/campaigns", self.campaigns)
        router.add("GET", "/v1/campaigns/{campaign_id}", self.campaign)
        router.add("GET", "/v1/campaigns/{campaign_id}/metrics", self.campaign_metrics)
        router.add("GET", "/v1/campaigns/{campaign_id}/actions", self.campaign_actions)
        router.add("GET", "/v1/campaigns/{campaign_id}/actions/{action_id}", self.campaign_action)
        router.add("GET", "/v1/messages", self.messages)
        router.add("GET", "/v1/messages/{message_id}", self.message)
        router.add("GET", "/v1/segments", self.segments)
        router.add("GET", "/v1/segments/{segment_id}", self.segment)
        router.add("GET", "/v1/segments/{segment_id}/membership", self.segment_membership)
        router.add("GET", "/v1/esp/search_suppression/{email}", self.search_esp_suppression)
        router.add("GET", "/v1/esp/suppression/{suppression_type}", self.esp_suppressions)
        router.add("GET", "/v1/info/ip_addresses", self.ip_addresses)

    # -- people -------------------------------------------------------------------------------

    def customers_by_email(self, request: Request) -> Response:
        email = request.arg("email")
        if not email:
            raise ApiError(400, message="query parameter email is required")
        person = self.workspace.people.find(Ref("email", email))
        return Response(200, {"results": [identifiers(person)] if person else []})

    def search_customers(self, request: Request) -> Response:
        """`POST /v1/customers` with a `filter` of attribute conditions (eq, exists; and/or/not)."""
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("filter"), dict):
            raise ApiError(400, message="body must be an object with a filter")
        with self.workspace.lock:
            people = [
                p for p in self.workspace.people.people.values() if _matches(p, body["filter"])
            ]
        return _people_page(people, request)

    def attributes(self, request: Request) -> Response:
        person = self._person(request)
        with self.workspace.lock:
            attributes = {k: _as_string(v) for k, v in person.attributes.items()}
            attributes.update({k: v for k, v in person.identifiers.items() if k in ("id", "email")})
            attributes["cio_id"] = person.cio_id
            customer = {
                "id": person.identifiers.get("id"),
                "identifiers": identifiers(person),
                "attributes": attributes,
                "timestamps": {k: int(v) for k, v in person.attribute_timestamps.items()},
                "unsubscribed": _truthy(person.attributes.get("unsubscribed")),
                "devices": list(person.devices.values()),
            }
        return Response(200, {"customer": customer})

    def person_messages(self, request: Request) -> Response:
        person = self._person(request)
        refs = {r.key() for r in person.refs()}
        with self.catalog.lock:
            found = [
                m
                for m in self.catalog.messages.values()
                if Ref.from_identifiers(m["customer_identifiers"]).key() in refs
            ]
        found = _filter_messages(found, request)
        page, next_token = _page(sorted(found, key=lambda m: -m["created"]), request)
        return Response(200, {"messages": page, "next": next_token})

    def person_activities(self, request: Request) -> Response:
        person = self._person(request)
        refs = {r.key() for r in person.refs()}
        with self.catalog.lock:
            seeded = [
                a
                for a in self.catalog.activities
                if Ref.from_identifiers(a["customer_identifiers"]).key() in refs
            ]
        activities = seeded + [_event_activity(e, person) for e in self.workspace.events_of(person)]
        activities += [
            _workspace_activity(index, a, person)
            for index, a in enumerate(self.workspace.activities_of(person))
        ]
        wanted_type, wanted_name = request.arg("type"), request.arg("name")
        activities = [
            a
            for a in activities
            if (not wanted_type or a["type"] == wanted_type)
            and (not wanted_name or a.get("name") == wanted_name)
        ]
        page, next_token = _page(sorted(activities, key=lambda a: -a["timestamp"]), request)
        return Response(200, {"activities": page, "next": next_token})

    def person_segments(self, request: Request) -> Response:
        person = self._person(request)
        with self.catalog.lock:
            segments = [
                self.catalog.segments[s]
                for s in sorted(person.segments)
                if s in self.catalog.segments
            ]
        return Response(200, {"segments": segments})

    def _person(self, request: Request) -> Person:
        id_type = request.arg("id_type", "id") or "id"
        if id_type not in ID_TYPES:
            raise ApiError(400, message=f"id_type must be one of {list(ID_TYPES)}")
        value = request.params["customer_id"]
        if id_type == "cio_id" and value.startswith("cio_"):
            value = value[4:]
        person = self.workspace.people.find(Ref(id_type, value))
        if person is None:
            raise not_found("customer")
        return person

    # -- campaigns ----------------------------------------------------------------------------

    def campaigns(self, request: Request) -> Response:
        with self.catalog.lock:
            found = [_public_campaign(c) for c in self.catalog.campaigns.values()]
        return Response(200, {"campaigns": found})

    def campaign(self, request: Request) -> Response:
        return Response(200, {"campaign": _public_campaign(self._campaign(request))})

    def campaign_metrics(self, request: Request) -> Response:
        """`{"metric": {"series": {name: [per-period counts]}}}`, the last period holding the
        seeded totals (a seeded list is used as the series itself)."""
        campaign = self._campaign(request)
        if request.arg("version") not in ("1", "2"):
            raise ApiError(400, message="query parameter version is required: 1 or 2")
        steps = request.int_arg("steps", 7, lowest=1, highest=121)
        series = {}
        for name, value in campaign["_metrics"].items():
            if isinstance(value, list):
                series[name] = [int(v) for v in value]
            else:
                series[name] = [0] * (steps - 1) + [int(value)]
        return Response(200, {"metric": {"series": series}})

    def campaign_actions(self, request: Request) -> Response:
        campaign = self._campaign(request)
        page, next_token = _page(campaign["_action_details"], request)
        return Response(200, {"actions": page, "next": next_token})

    def campaign_action(self, request: Request) -> Response:
        campaign = self._campaign(request)
        action_id = _int_param(request, "action_id", "action")
        for action in campaign["_action_details"]:
            if action["id"] == action_id:
                return Response(200, {"action": action})
        raise not_found("action")

    def _campaign(self, request: Request) -> dict[str, Any]:
        return self._lookup(self.catalog.campaigns, request, "campaign")

    # -- messages -----------------------------------------------------------------------------

    def messages(self, request: Request) -> Response:
        with self.catalog.lock:
            found = list(self.catalog.messages.values())
        found = _filter_messages(found, request)
        page, next_token = _page(sorted(found, key=lambda m: -m["created"]), request)
        return Response(200, {"messages": page, "next": next_token})

    def message(self, request: Request) -> Response:
        with self.catalog.lock:
            message = self.catalog.messages.get(request.params["message_id"])
        if message is None:
            raise not_found("message")
        return Response(200, {"message": message})

    # -- segments -----------------------------------------------------------------------------

    def segments(self, request: Request) -> Response:
        with self.catalog.lock:
            return Response(200, {"segments": list(self.catalog.segments.values())})

    def segment(self, request: Request) -> Response:
        return Response(200, {"segment": self._segment(request)})

    def segment_membership(self, request: Request) -> Response:
        segment_id = self._segment(request)["id"]
        with self.workspace.lock:
            members = [p for p in self.workspace.people.people.values() if segment_id in p.segments]
        return _people_page(members, request)

    def _segment(self, request: Request) -> dict[str, Any]:
        return self._lookup(self.catalog.segments, request, "segment")

    def _lookup(
        self, table: dict[int, dict[str, Any]], request: Request, what: str
    ) -> dict[str, Any]:
        """The catalog entry named by the `<what>_id` path parameter, or 404."""
        key = _int_param(request, f"{what}_id", what)
        with self.catalog.lock:
            found = table.get(key)
        if found is None:
            raise not_found(what)
        return found

    # -- ESP suppressions -----------------------------------------------------------------------

    def search_esp_suppression(self, request: Request) -> Response:
        """`{"category", "suppressions"}` as documented: the first category (bounces, blocks,
        spam_reports, invalid_emails) that holds the address, with its entries."""
        email = request.params["email"].lower()
        with self.catalog.lock:
            found = [s for s in self.catalog.esp_suppressions if s["email"].lower() == email]
        for kind in ESP_SUPPRESSION_TYPES:
            entries = [_esp_public(s) for s in found if s["type"] == kind]
            if entries:
                return Response(200, {"category": _category(kind), "suppressions": entries})
        return Response(200, {"category": None, "suppressions": []})

    def esp_suppressions(self, request: Request) -> Response:
        kind = request.params["suppression_type"]
        if kind not in ESP_SUPPRESSION_TYPES:
            raise ApiError(
                400, message=f"suppression_type must be one of {list(ESP_SUPPRESSION_TYPES)}"
            )
        with self.catalog.lock:
            found = [_esp_public(s) for s in self.catalog.esp_suppressions if s["type"] == kind]
        offset = request.int_arg("offset", 0, highest=10**9)
        limit = request.int_arg("limit", DEFAULT_LIMIT, lowest=1, highest=1000)
        return Response(
            200, {"category": _category(kind), "suppressions": found[offset : offset + limit]}
        )

    def ip_addresses(self, request: Request) -> Response:
        """The addresses Customer.io sends webhooks from (the documented call needs no key)."""
        return Response(200, {"ip_addresses": list(WEBHOOK_IPS[self.region])})


def identifiers(person: Person) -> dict[str, Any]:
    return {
        "email": person.identifiers.get("email"),
        "id": person.identifiers.get("id"),
        "cio_id": person.cio_id,
    }


def _as_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _truthy(value: Any) -> bool:
    """Customer.io treats any case of true, 1 and "1" as unsubscribed."""
    return (
        value is True or value == 1 or (isinstance(value, str) and value.lower() in ("true", "1"))
    )


def _int_param(request: Request, name: str, what: str) -> int:
    try:
        return int(request.params[name])
    except ValueError as exc:
        raise not_found(what) from exc


def _page(items: list[Any], request: Request) -> tuple[list[Any], str]:
    """Cursor paging with `start` / `limit`; `next` is empty on the last page."""
    start = request.int_arg("start", 0, highest=10**9)
    limit = request.int_arg("limit", DEFAULT_LIMIT, lowest=1, highest=1000)
    page = items[start : start + limit]
    return page, str(start + limit) if start + limit < len(items) else ""


def _people_page(people: list[Person], request: Request) -> Response:
    """A page of people as the App API lists them: identifiers, ids and the next cursor."""
    page, next_token = _page(people, request)
    return Response(
        200,
        {
            "identifiers": [identifiers(p) for p in page],
            "ids": [p.identifiers.get("id") for p in page],
            "next": next_token,
        },
    )


def _filter_messages(messages: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    """The App API's message filters: campaign_id, action_id, type, metric (a reached state)."""
    wanted = {k: request.arg(k) for k in ("campaign_id", "action_id", "newsletter_id", "type")}
    metric = request.arg("metric")
    found = []
    for message in messages:
        if any(v is not None and str(message.get(k)) != v for k, v in wanted.items()):
            continue
        if metric and not message["metrics"].get(metric):
            continue
        found.append(message)
    return found


def _event_activity(event: dict[str, Any], person: Person) -> dict[str, Any]:
    """A tracked event as an activity: type `event`, `page` or `screen`."""
    timestamp = event.get("timestamp") or int(event["received_at"])
    return {
        "id": f"sim-event-{event['id'] or id(event)}",
        "customer_id": person.identifiers.get("id"),
        "customer_identifiers": identifiers(person),
        "type": event.get("type", "event"),
        "name": event.get("name"),
        "timestamp": int(timestamp),
        "data": event.get("data", {}),
    }


def _workspace_activity(index: int, activity: dict[str, Any], person: Person) -> dict[str, Any]:
    """An attribute or device change the Track API made, as an activity."""
    return {
        "id": f"sim-activity-{person.cio_id}-{index}",
        "customer_id": person.identifiers.get("id"),
        "customer_identifiers": identifiers(person),
        "type": activity["type"],
        "timestamp": activity["timestamp"],
        "data": activity["data"],
    }


def _category(kind: str) -> str:
    """The response's `category`: the document's enum names spam reports `spam`."""
    return "spam" if kind == "spam_reports" else kind


def _esp_public(suppression: dict[str, Any]) -> dict[str, Any]:
    return {k: suppression[k] for k in ("created", "email", "reason", "status")}


def _matches(person: Person, condition: dict[str, Any]) -> bool:
    if "and" in condition:
        return all(_matches(person, c) for c in condition["and"])
    if "or" in condition:
        return any(_matches(person, c) for c in condition["or"])
    if "not" in condition:
        return not _matches(person, condition["not"])
    if "segment" in condition:
        return int(condition["segment"].get("id", -1)) in person.segments
    if "attribute" in condition:
        return _attribute_matches(person, condition["attribute"])
    raise ApiError(400, message="filter conditions are and, or, not, segment or attribute")


def _attribute_matches(person: Person, spec: dict[str, Any]) -> bool:
    """`{"field", "operator": "eq"|"exists", "value", "inverse"}` as the App API filters say."""
    field, operator = str(spec.get("field")), spec.get("operator", "eq")
    value = (
        person.identifiers.get(field) if field in ("id", "email") else person.attributes.get(field)
    )
    if operator == "exists":
        found = value is not None
    elif operator == "eq":
        found = value is not None and _as_string(value) == _as_string(spec.get("value"))
    else:
        raise ApiError(400, message=f"filter operator {operator!r} is not supported (eq, exists)")
    return not found if spec.get("inverse") else found
