"""The live project as the fakes see it, and one small REST fake per Google API preflight reads.

Answers have the real APIs' JSON shapes (Resource Manager v3, Service Usage v1, Cloud Storage
JSON v1, Cloud KMS v1, Org Policy v2, IAM v1); `World` is what a test changes to plant a
problem. Only the endpoints preflight calls are served.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tests.preflight.rest_server import Answer, Route, error

ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


@dataclass
class World:
    project_id: str
    project_number: str
    enabled_apis: set[str] = field(default_factory=set)
    buckets: dict[str, bool] = field(default_factory=dict)  # name -> versioning enabled
    keys: dict[str, str] = field(default_factory=dict)  # key name -> primary version state
    grants: dict[str, set[str]] = field(default_factory=dict)  # key or ring -> members with ROLE
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # constraint -> spec
    custom_constraints: list[dict[str, Any]] = field(default_factory=list)
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)  # full name -> resource
    refused: set[str] = field(default_factory=set)  # services that answer 403 to everything


def refusing(_: World) -> list[Route]:
    def deny(match: re.Match[str], _: dict[str, list[str]]) -> Answer:
        return error(403, "PERMISSION_DENIED", "The caller does not have permission")

    return [Route("GET", r".*", deny)]


def _project_ok(world: World, project: str) -> bool:
    return project in {world.project_id, world.project_number}


def resourcemanager(world: World) -> list[Route]:
    def get(match: re.Match[str], _: dict[str, list[str]]) -> Answer:
        if not _project_ok(world, match["project"]):
            return error(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
            )
        return 200, {
            "name": f"projects/{world.project_number}",
            "projectId": world.project_id,
            "state": "ACTIVE",
            "parent": "organizations/123",
        }

    return [Route("GET", r"/v3/projects/(?P<project>[^/]+)", get)]


def serviceusage(world: World) -> list[Route]:
    def batch_get(match: re.Match[str], query: dict[str, list[str]]) -> Answer:
        if not _project_ok(world, match["project"]):
            return error(403, "PERMISSION_DENIED", "Permission denied")
        services = []
        for name in query.get("names", []):
            api = name.rsplit("/", 1)[-1]
            state = "ENABLED" if api in world.enabled_apis else "DISABLED"
            services.append(
                {
                    "name": f"projects/{world.project_number}/services/{api}",
                    "parent": f"projects/{world.project_number}",
                    "state": state,
                }
            )
        return 200, {"services": services}

    return [Route("GET", r"/v1/projects/(?P<project>[^/]+)/services:batchGet", batch_get)]


def storage(world: World) -> list[Route]:
    def get(match: re.Match[str], _: dict[str, list[str]]) -> Answer:
        name = match["bucket"]
        if name not in world.buckets:
            return error(404, "NOT_FOUND", "The specified bucket does not exist.")
        return 200, {
            "kind": "storage#bucket",
            "id": name,
            "name": name,
            "projectNumber": world.project_number,
            "location": "EUROPE-WEST1",
            "versioning": {"enabled": world.buckets[name]},
        }

    return [Route("GET", r"/storage/v1/b/(?P<bucket>[^/]+)", get)]


KEY = r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/:]+"
RING = r"projects/[^/]+/locations/[^/]+/keyRings/[^/:]+"


def kms(world: World) -> list[Route]:
    def get_key(match: re.Match[str], _: dict[str, list[str]]) -> Answer:
        name = match["name"]
        if name not in world.keys:
            return error(404, "NOT_FOUND", f"CryptoKey {name} not found.")
        return 200, {
            "name": name,
            "purpose": "ENCRYPT_DECRYPT",
            "primary": {"name": f"{name}/cryptoKeyVersions/1", "state": world.keys[name]},
        }

    def policy(match: re.Match[str], _: dict[str, list[str]]) -> Answer:
        members = sorted(world.grants.get(match["name"], set()))
        bindings = [{"role": ROLE, "members": members}] if members else []
        return 200, {"version": 1, "etag": "BwYAAAA=", "bindings": bindings}

    return [
        Route("GET", rf"/v1/(?P<name>{KEY})", get_key),
        Route("GET", rf"/v1/(?P<name>{KEY}|{RING}):getIamPolicy", policy),
    ]


def orgpolicy(world: World) -> list[Route]:
    def effective(match: re.Match[str], _: dict[str, list[str]]) -> Answer:
        constraint = match["constraint"]
        spec = world.policies.get(constraint, {})
        name = f"projects/{world.project_number}/policies/{constraint}"
        return 200, {"name": name, "spec": spec}

    def constraints(match: re.Match[str], _: dict[str, list[str]]) -> Answer:
        builtin = [
            {
                "name": f"projects/{world.project_number}/constraints/{c}",
                "listConstraint": {},
            }
            for c in ("iam.allowedPolicyMemberDomains", "gcp.resourceLocations")
        ]
        return 200, {"constraints": builtin + world.custom_constraints}

    project = r"projects/(?P<project>[^/]+)"
    return [
        Route(
            "GET", rf"/v2/{project}/policies/(?P<constraint>[^/:]+):getEffectivePolicy", effective
        ),
        Route("GET", rf"/v2/{project}/constraints", constraints),
    ]


def iam(world: World) -> list[Route]:
    def get(match: re.Match[str], _: dict[str, list[str]]) -> Answer:
        name = match["name"]
        if name not in world.pools:
            return error(404, "NOT_FOUND", f"Requested entity was not found: {name}")
        return 200, {"name": name, **world.pools[name]}

    pools = r"projects/[^/]+/locations/global/workloadIdentityPools/[^/]+"
    return [Route("GET", rf"/v1/(?P<name>{pools}(/providers/[^/]+)?)", get)]


REST_FAKES = {
    "resourcemanager": resourcemanager,
    "serviceusage": serviceusage,
    "storage": storage,
    "kms": kms,
    "orgpolicy": orgpolicy,
    "iam": iam,
}
