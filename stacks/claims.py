"""Firestore claims: the database where transactional sends claim their idempotency keys.

One Native-mode database `<prefix>-<env>-claims` per environment, created when an enabled
handler's manifest says `firestore: true` (functions/transactional). What it holds decides
whether a customer gets a password reset once or twice, so:

- Location: the environment's `region`, beside the function that writes a claim on every send
  (a regional outage takes the function down with it, so a multi-region database would add
  write latency, not availability). Firestore accepts only its own list of locations
  (`FIRESTORE_LOCATIONS`); a region outside it fails before synth (stacks/readiness.py).
- Deletion: `delete_protection_state` is enabled in protected environments and the
  provider's `deletion_policy` is `DELETE` everywhere. The provider's default, `ABANDON`,
  would drop the database from state on a destroy and leave it behind: a protected database
  would then survive unmanaged, and dev's would block the next apply with the same name.
  With `DELETE`, a destroy in a protected environment is stopped by `prevent_destroy` and, past
  that, refused by Firestore's delete protection; elsewhere it really deletes.
- CMEK: with `kms_keys`, the key listed under the database's location (a regional database
  takes a key in its region: Firestore Admin API `Database.CmekConfig.kms_key_name`, "only keys
  in the same location as this database"). The Firestore service agent needs
  encrypterDecrypter on it (the `kms_key_users_required` output).
- TTL: a policy on `contract.CLAIM_EXPIRY_FIELD` of `contract.CLAIMS_COLLECTION` (and, in a
  `customerio.api: pipelines` environment, of the Pipelines guards' two collections), with that
  field exempt from single-field indexing (a monotonically rising timestamp index would
  hotspot; Firestore's TTL best practices). Records live `claim_ttl_seconds(env)`.
"""

from __future__ import annotations

from cio_shared import contract

from stacks import cdk
from stacks.config import Environment
from stacks.naming import DAY_SECONDS, lifecycle

# Firestore locations (https://cloud.google.com/firestore/native/docs/locations, read
# 2026-11): the regional ones and the multi-regions. Add a region when Google opens it.
FIRESTORE_MULTI_REGIONS = frozenset({"eur3", "nam5", "nam7"})
FIRESTORE_REGIONS = frozenset(
    {
        "africa-south1",
        "asia-east1",
        "asia-east2",
        "asia-northeast1",
        "asia-northeast2",
        "asia-northeast3",
        "asia-south1",
        "asia-south2",
        "asia-southeast1",
        "asia-southeast2",
        "australia-southeast1",
        "australia-southeast2",
        "europe-central2",
        "europe-north1",
        "europe-north2",
        "europe-southwest1",
        "europe-west1",
        "europe-west2",
        "europe-west3",
        "europe-west4",
        "europe-west6",
        "europe-west8",
        "europe-west9",
        "europe-west10",
        "europe-west12",
        "me-central1",
        "me-central2",
        "me-west1",
        "northamerica-northeast1",
        "northamerica-northeast2",
        "northamerica-south1",
        "southamerica-east1",
        "southamerica-west1",
        "us-central1",
        "us-east1",
        "us-east4",
        "us-east5",
        "us-south1",
        "us-west1",
        "us-west2",
        "us-west3",
        "us-west4",
    }
)
FIRESTORE_LOCATIONS = FIRESTORE_REGIONS | FIRESTORE_MULTI_REGIONS
DATASTORE_USER = "roles/datastore.user"
# Between the last moment a dead letter can be pulled and its replay's publish; and clock skew.
REPLAY_MARGIN_DAYS = 2


def database_name(env: Environment) -> str:
    return env.resource_name(contract.FIRESTORE_PURPOSE)


def database_location(env: Environment) -> str:
    return env.region


def location_problem(env: Environment) -> str | None:
    """Why the claims database cannot be created in this environment's region, if it cannot."""
    location = database_location(env)
    if location in FIRESTORE_LOCATIONS:
        return None
    return (
        f"region: {location!r} is not a Firestore location "
        "(https://cloud.google.com/firestore/native/docs/locations), and the transactional "
        "claims database is created in the region; choose a region Firestore offers, or turn "
        "the Firestore handlers off with `handlers: {<name>: {enabled: false}}`"
    )


def claim_ttl_seconds(env: Environment) -> int:
    """How long a claim outlasts its last write: every way a copy of the message comes back.

    A copy can be redelivered while the subscription keeps it (message_retention_days); by
    then it is acked or dead-lettered, and the dead letter is kept dead_letter_retention_days
    (at most 31: the pull subscription's limit, stacks/event_bus.py); a replay at the end of
    that is a new message that can again wait message_retention_days for a delivery; plus a
    margin. TTL deletion is lazy (typically within a day), which only lengthens it.
    """
    pubsub = env.pubsub
    days = (
        pubsub.message_retention_days
        + min(pubsub.dead_letter_retention_days, 31)
        + pubsub.message_retention_days
        + REPLAY_MARGIN_DAYS
    )
    return days * DAY_SECONDS


class Claims(cdk.Construct):
    """The claims database and its TTL policy; `grant` gives one account access to it only."""

    def __init__(self, scope: cdk.Construct, env: Environment) -> None:
        super().__init__(scope, "claims")
        self.env = env
        self.name = database_name(env)
        self.location = database_location(env)
        self.ttl_seconds = claim_ttl_seconds(env)
        self.kms_key = env.kms_keys.get(self.location) if env.kms_keys else None
        self.database = cdk.FirestoreDatabase(
            self,
            "database",
            project=env.project_id,
            name=self.name,
            location_id=self.location,
            type="FIRESTORE_NATIVE",
            database_edition="STANDARD",
            app_engine_integration_mode="DISABLED",
            delete_protection_state=(
                "DELETE_PROTECTION_ENABLED" if env.protected else "DELETE_PROTECTION_DISABLED"
            ),
            deletion_policy="DELETE",
            point_in_time_recovery_enablement=(
                "POINT_IN_TIME_RECOVERY_ENABLED"
                if env.protected
                else "POINT_IN_TIME_RECOVERY_DISABLED"
            ),
            cmek_config={"kms_key_name": self.kms_key} if self.kms_key else None,
            lifecycle=lifecycle(env),
        )
        self.ttl = self._ttl("ttl", contract.CLAIMS_COLLECTION)
        if env.customerio.api == "pipelines":  # the Pipelines path's guards expire too
            for collection in (
                contract.PIPELINES_DELIVERED_COLLECTION,
                contract.PIPELINES_TRAITS_COLLECTION,
            ):
                self._ttl(f"ttl-{collection}", collection)

    def _ttl(self, id_: str, collection: str) -> cdk.FirestoreField:
        """A TTL policy is per collection group: one for each collection the handlers write."""
        return cdk.FirestoreField(
            self,
            id_,
            project=self.env.project_id,
            database=self.database.name,
            collection=collection,
            field=contract.CLAIM_EXPIRY_FIELD,
            ttl_config={},
            index_config={},
        )

    @property
    def resource_name(self) -> str:
        """What IAM conditions compare `resource.name` with."""
        return f"projects/{self.env.project_id}/databases/{self.name}"

    def grant(self, scope: cdk.Construct, member: str) -> cdk.ProjectIamMember:
        """roles/datastore.user on this database only.

        The provider has no per-database IAM resource, so this is a project binding with an
        IAM condition on the database's resource name
        (https://cloud.google.com/firestore/docs/security/iam, IAM Conditions).
        """
        return cdk.ProjectIamMember(
            scope,
            "claims-user",
            project=self.env.project_id,
            role=DATASTORE_USER,
            member=member,
            condition={
                "title": f"{self.name} only",
                "description": "Read and write the transactional claims database, no other",
                "expression": f'resource.name == "{self.resource_name}"',
            },
            depends_on=[self.database],
        )

    def variables(self) -> dict[str, str]:
        return {
            contract.FIRESTORE_DATABASE: self.name,
            contract.CLAIM_TTL: str(self.ttl_seconds),
        }
