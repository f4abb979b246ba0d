"""The names and lists that cross parts: stacks, handlers, toolkit and docs read them here.

Dependency-free on purpose (standard library only): the stacks import this one module of the
shared library (tests/test_architecture.py allows nothing else), so a name is written once.
"""

from __future__ import annotations

import hashlib

# --- Naming -------------------------------------------------------------------------------
DEFAULT_PREFIX = "cio"
DEAD_LETTER_SUFFIX = "dead-letter"


def resource_name(prefix: str, environment: str, purpose: str) -> str:
    """`<prefix>-<env>-<purpose>`, the name of every resource."""
    return f"{prefix}-{environment}-{purpose}"


def dead_letter_of(purpose: str) -> str:
    """The dead-letter topic (and pull subscription) purpose of a topic purpose."""
    return f"{purpose}-{DEAD_LETTER_SUFFIX}"


def topic_path(project: str, topic_name: str) -> str:
    return f"projects/{project}/topics/{topic_name}"


# --- Secrets: logical name -> Secret Manager id `<prefix>-<env>-<logical>` ---------------------
SECRET_NAMES = (
    "site-id",
    "track-api-key",
    "app-api-key",
    "webhook-signing-key",
    "pipelines-api-key",
)

# --- Message actions and the event topics that carry them ------------------------------------
EVENT_ACTIONS = ("event", "page", "screen")
PERSON_ACTIONS = (
    "identify",
    "add_device",
    "delete_device",
    "suppress",
    "unsuppress",
    "delete",
    "merge",
)
# Transactional sends through the App API (`POST /v1/send/email|push|sms`): the transactional
# topic carries them; their model is `cio_shared.messages.TransactionalMessage`.
TRANSACTIONAL_ACTIONS = ("send_email", "send_push", "send_sms")
MESSAGE_ACTIONS = (*EVENT_ACTIONS, *PERSON_ACTIONS, *TRANSACTIONAL_ACTIONS)

# --- Variables the stack injects into every handler (a manifest must not set them) ----------
ENVIRONMENT = "CIO_ENVIRONMENT"
REGION = "CIO_REGION"
PROJECT = "GOOGLE_CLOUD_PROJECT"
RATE_LIMIT = "CIO_RATE_LIMIT_PER_SECOND"
RATE_LIMIT_MAX_WAIT = "CIO_RATE_LIMIT_MAX_WAIT_MS"
CALL_TIMEOUT = "CIO_TIMEOUT_SECONDS"
BATCH_MAX_WAIT = "CIO_BATCH_MAX_WAIT_MS"
THREADS = "THREADS"
# Pub/Sub-push handlers only: the topic they consume, its dead-letter topic, and the actions
# their manifest says the topic carries (comma-separated).
SOURCE_TOPIC = "CIO_SOURCE_TOPIC"
DEAD_LETTER_TOPIC = "CIO_DEAD_LETTER_TOPIC"
TOPIC_ACTIONS = "CIO_TOPIC_ACTIONS"
# Handlers that call the delivery API (manifest `calls_track_api`): which API the environment
# delivers through (`customerio.api`), one of DELIVERY_APIS.
DELIVERY_API = "CIO_DELIVERY_API"
INJECTED_VARIABLES = (
    ENVIRONMENT,
    REGION,
    PROJECT,
    RATE_LIMIT,
    RATE_LIMIT_MAX_WAIT,
    CALL_TIMEOUT,
    BATCH_MAX_WAIT,
    THREADS,
    SOURCE_TOPIC,
    DEAD_LETTER_TOPIC,
    TOPIC_ACTIONS,
    DELIVERY_API,
)

# --- The public webhook's body cap: read by its settings and by the stacks' readiness rule ------
# A body under the cap is read whole before its signature can be checked, so at most
# concurrency x cap (x2: the chunks and their join) of anyone's bytes sit in one instance;
# stacks/readiness.py refuses an environment where that does not fit in the handler's memory.
WEBHOOK_MAX_BODY_VARIABLE = "CIO_WEBHOOK_MAX_BODY_BYTES"
WEBHOOK_DEFAULT_MAX_BODY_BYTES = 1024 * 1024
WEBHOOK_BODY_COPIES = 2
WEBHOOK_BASELINE_MEMORY_BYTES = 192 * 1024 * 1024  # the interpreter, clients, headroom

# --- Transactional sends: the Firestore database of idempotency-key claims ----------------
# Set by the stack for a handler whose manifest says `firestore: true` (not in
# INJECTED_VARIABLES: only such handlers get them, and a manifest must still not set them).
FIRESTORE_DATABASE = "CIO_FIRESTORE_DATABASE"
CLAIM_TTL = "CIO_CLAIM_TTL_SECONDS"
FIRESTORE_VARIABLES = (FIRESTORE_DATABASE, CLAIM_TTL)
FIRESTORE_PURPOSE = "claims"  # the database `<prefix>-<env>-claims`
CLAIMS_COLLECTION = "transactional-claims"
CLAIM_EXPIRY_FIELD = "expire_at"  # the TTL policy's field
# The Pipelines path's guards (cio_shared.delivery.pipelines_guard) in the same database: a
# delivered marker per event id, per-trait identify timestamps per person hash.
PIPELINES_DELIVERED_COLLECTION = "pipelines-delivered"
PIPELINES_TRAITS_COLLECTION = "pipelines-traits"
# What an attempt whose outcome is unknown (a timeout after the request left) does on its
# redelivery: `retry` sends again (at most one duplicate, counted), `hold` dead-letters it.
UNKNOWN_OUTCOME_POLICIES = ("retry", "hold")

# --- Customer.io region hosts ------------------------------------------------------------
TRACK_URLS = {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}
APP_URLS = {"us": "https://api.customer.io", "eu": "https://api-eu.customer.io"}
PIPELINES_URLS = {"us": "https://cdp.customer.io", "eu": "https://cdp-eu.customer.io"}

# --- The delivery API an environment chooses (`customerio.api`), and its credentials ---------
# `track`: Track API v2 (site id + Track API key); `pipelines`: the Pipelines API (one key).
# The manifests name the Track credentials; in a `pipelines` environment the stack swaps them
# for the Pipelines key (`delivery_secrets`), so each handler reads only the key it uses.
DELIVERY_APIS = ("track", "pipelines")
PIPELINES_SECRET = "pipelines-api-key"  # noqa: S105 - a secret's name, not a value
PIPELINES_KEY_VARIABLE = "CIO_PIPELINES_API_KEY"
TRACK_CREDENTIALS = {"CIO_SITE_ID": "site-id", "CIO_TRACK_API_KEY": "track-api-key"}
PIPELINES_CREDENTIALS = {PIPELINES_KEY_VARIABLE: PIPELINES_SECRET}


def delivery_secrets(secrets: dict[str, str], api: str) -> dict[str, str]:
    """A delivery handler's secrets (env var -> `<logical>[@previous]`) for the chosen API.

    `track` keeps the manifest's; `pipelines` drops the Track credentials (also their
    `@previous` rotation entries) and adds the Pipelines key, so a `pipelines` environment
    grants track and identify exactly one Customer.io secret.
    """
    if api not in DELIVERY_APIS:
        raise ValueError(f"delivery API {api!r} is not one of {DELIVERY_APIS}")
    if api == "track":
        return dict(secrets)
    track = set(TRACK_CREDENTIALS.values())
    kept = {v: s for v, s in secrets.items() if s.split("@", 1)[0] not in track}
    return {**kept, **PIPELINES_CREDENTIALS}


# --- Decisions: one per delivery, in every handler's log line (`jsonPayload.decision`) ------
DECISIONS = ("delivered", "retry", "dead_lettered", "quarantined", "accepted", "rejected")

# The delivery ledger: the handlers' decision log lines, routed by a Cloud Logging sink into the
# dataset `<prefix>_<env>_ledger` (stacks/ledger.py). Cloud Run writes stdout JSON to the log
# `run.googleapis.com/stdout`; the sink's partitioned table is named after it.
LEDGER_PURPOSE = "ledger"
LEDGER_TABLE = "run_googleapis_com_stdout"
LEDGER_LINE_FIELDS = {  # jsonPayload field -> the one JSON type it always has (never null)
    "event_id": "string",
    "message_id": "string",
    "action": "string",
    "decision": "string",
    "reason": "string",
    "attempt": "number",
    "cio_status": "number",
    "latency_ms": "number",
    "person_hash": "string",
    "replay_of": "string",
}


def person_hash(kind: str, value: str) -> str:
    """The ledger's person key: SHA-256 of `kind:value` (`id:42`, `email:a@b.c`, `cio_id:x`),
    hex. Pseudonymous, not anonymous: erasure deletes ledger rows by it. Emails are lowercased
    (Customer.io matches them case-insensitively); BigQuery computes the same with
    `TO_HEX(SHA256(CONCAT(kind, ':', value)))`."""
    normalized = value.strip().lower() if kind == "email" else value.strip()
    return hashlib.sha256(f"{kind}:{normalized}".encode()).hexdigest()


# --- Erasure: `cio-doctor erase`'s audit, one row per run of a request ------------------------
# The dataset `<prefix>_<env>_erasure` (stacks/erasure.py) holds no personal data: the person
# hash, counts and locations only.
ERASURE_PURPOSE = "erasure"
ERASURE_AUDIT_TABLE = "erasure_audit"
ERASURE_AUDIT_FIELDS = (  # name, BigQuery type, mode, description
    ("request_id", "STRING", "REQUIRED", "er_ + a prefix of the person hash; stable per person"),
    ("run_at", "TIMESTAMP", "REQUIRED", "when this run finished; the partitioning column"),
    ("person_hash", "STRING", "REQUIRED", "person_hash() of the identifier the request gave"),
    ("mode", "STRING", "REQUIRED", "suppress or delete"),
    ("requested_by", "STRING", "NULLABLE", "who ran it (the operator account)"),
    ("status", "STRING", "REQUIRED", "complete or pending"),
    ("removed", "STRING", "NULLABLE", "JSON: location -> what the request removed so far"),
    ("pending", "STRING", "REPEATED", "the locations not finished yet"),
    ("state", "STRING", "NULLABLE", "JSON: what a rerun continues from (hashes only)"),
)


def erasure_audit_schema() -> list[dict[str, str]]:
    """ERASURE_AUDIT_FIELDS as a BigQuery JSON schema (the stack's table, the tool's fallback)."""
    return [
        {"name": n, "type": t, "mode": m, "description": d} for n, t, m, d in ERASURE_AUDIT_FIELDS
    ]
