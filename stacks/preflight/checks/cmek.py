"""CMEK keys exist where their services need them, and grant the service agents the key (KMS).

For every (service, location) the environment encrypts (`env.cmek_requirements()`): the key
exists in that location with an enabled primary version, and the key's (or its key ring's)
IAM policy grants `cryptoKeyEncrypterDecrypter` to that service's agent. Grants on the key's
project or folder are not seen; docs/deploy.md grants on the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stacks.preflight.checks.common import could_not_check
from stacks.preflight.clients import Clients
from stacks.preflight.errors import is_not_found
from stacks.preflight.results import Result, fail, ok, unchecked
from stacks.preflight.target import Target
from stacks.service_agents import ENCRYPTER_DECRYPTER, agent_for

CHECK = "cmek"
ENABLED = 1  # google.cloud.kms.v1.CryptoKeyVersion.CryptoKeyVersionState
NEEDS = (
    "cloudkms.cryptoKeys.get and cloudkms.cryptoKeys.getIamPolicy on the key "
    "(roles/cloudkms.viewer and roles/iam.securityReviewer in the key's project)"
)


@dataclass(frozen=True)
class KeyName:
    project: str
    location: str
    ring: str
    key: str

    @classmethod
    def parse(cls, name: str) -> KeyName:
        parts = name.split("/")
        return cls(project=parts[1], location=parts[3], ring=parts[5], key=parts[7])

    @property
    def ring_name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/keyRings/{self.ring}"

    def gcloud(self) -> str:
        return f"--keyring {self.ring} --location {self.location} --project {self.project}"


@dataclass(frozen=True)
class KeyState:
    key: Any  # kms_v1.CryptoKey
    members: frozenset[str]  # members holding the role on the key or its ring


def _read_key(clients: Clients, name: str) -> KeyState:
    client = clients.kms()
    key = clients.rpc("kms", client.get_crypto_key, name=name)
    members: set[str] = set()
    for resource in (name, KeyName.parse(name).ring_name):
        options = {"requested_policy_version": 3}
        policy = clients.rpc(
            "kms", client.get_iam_policy, request={"resource": resource, "options": options}
        )
        for binding in policy.bindings:
            if binding.role == ENCRYPTER_DECRYPTER:
                members.update(str(m) for m in binding.members)
    return KeyState(key, frozenset(members))


def _missing_key(name: KeyName, service: str, location: str) -> Result:
    return fail(
        CHECK,
        f"{service} in {location}",
        f"key {name.key} not found in key ring {name.ring} in {location} (project {name.project})",
        f"{service} resources in {location} are encrypted with a key in that same location; "
        "the apply fails creating them (a key ring's location is fixed when it is created)",
        f"gcloud kms keyrings create {name.ring} --location {location} --project {name.project}"
        "  # skip if the ring exists",
        f"gcloud kms keys create {name.key} --purpose encryption {name.gcloud()}",
    )


def _verdict(target: Target, service: str, location: str, key: str, state: KeyState) -> Result:
    name = KeyName.parse(key)
    subject = f"{service} in {location}"
    found = KeyName.parse(str(state.key.name) or key)
    if found.location != location:
        return _missing_key(name, service, location)
    primary = state.key.primary
    if primary and str(primary.name) and int(primary.state) != ENABLED:
        version = str(primary.name).rsplit("/", 1)[-1]
        return fail(
            CHECK,
            subject,
            f"key {name.key}'s primary version {version} is not enabled",
            "encrypting with a key whose primary version is disabled fails, so the "
            f"{service} resources cannot be created",
            f"gcloud kms keys versions enable {version} --key {name.key} {name.gcloud()}",
        )
    number = target.project_number
    assert number is not None
    agent = agent_for(service)
    if agent.member(number) not in state.members:
        return fail(
            CHECK,
            subject,
            f"{agent.email(number)} lacks {ENCRYPTER_DECRYPTER} on key {key}",
            f"{service} encrypts with the key as its service agent; without the grant the "
            "apply fails creating the encrypted resources (permission denied on the key)",
            f"{agent.provision_command(target.project_id)}  # provisions the agent if missing",
            f"gcloud kms keys add-iam-policy-binding {name.key} {name.gcloud()} "
            f"--member {agent.member(number)} --role {ENCRYPTER_DECRYPTER}",
        )
    return ok(CHECK, subject, f"key {key} exists; {agent.email(number)} may use it")


def check(target: Target, clients: Clients) -> list[Result]:
    uses = target.env.cmek_requirements()
    if not uses:
        return [ok(CHECK, "kms_keys", "no CMEK keys configured")]
    if target.project_number is None:
        return [
            unchecked(
                CHECK,
                "kms_keys",
                "the project number is unknown, so the service agents are too",
                "see the project check above",
            )
        ]
    read: dict[str, KeyState | BaseException] = {}
    results: list[Result] = []
    for use in uses:
        assert use.key is not None  # the environment model requires a key for every use
        if use.key not in read:
            try:
                read[use.key] = _read_key(clients, use.key)
            except Exception as exc:
                read[use.key] = exc
        outcome = read[use.key]
        if isinstance(outcome, KeyState):
            results.append(_verdict(target, use.service, use.location, use.key, outcome))
        elif is_not_found(outcome):
            results.append(_missing_key(KeyName.parse(use.key), use.service, use.location))
        else:
            subject = f"{use.service} in {use.location}"
            results.append(could_not_check(CHECK, subject, "kms", clients, outcome, NEEDS))
    return results
