"""Google-managed service agents that encrypt with a CMEK key, named from the project number.

One table for the stacks (the `kms_key_users_required` output), the bootstrap (the Pub/Sub
agent mints push tokens) and the preflight (it checks each key's policy). Each agent needs
`roles/cloudkms.cryptoKeyEncrypterDecrypter` on the key its service uses
(https://cloud.google.com/kms/docs/cmek#service_agents). An agent exists once provisioned;
creating it is a write, so preflight prints the command instead.
"""

from __future__ import annotations

from dataclasses import dataclass

ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


@dataclass(frozen=True)
class ServiceAgent:
    service: str
    email_pattern: str  # `{number}` is the project number
    provision_pattern: str  # `{project}` is the project id

    def email(self, project_number: str) -> str:
        return self.email_pattern.format(number=project_number)

    def member(self, project_number: str) -> str:
        return f"serviceAccount:{self.email(project_number)}"

    def provision_command(self, project_id: str) -> str:
        return self.provision_pattern.format(project=project_id)


AGENTS = {
    "secretmanager": ServiceAgent(
        "secretmanager",
        "service-{number}@gcp-sa-secretmanager.iam.gserviceaccount.com",
        "gcloud beta services identity create --service=secretmanager.googleapis.com "
        "--project {project}",
    ),
    "pubsub": ServiceAgent(
        "pubsub",
        "service-{number}@gcp-sa-pubsub.iam.gserviceaccount.com",
        "gcloud beta services identity create --service=pubsub.googleapis.com --project {project}",
    ),
    "firestore": ServiceAgent(
        "firestore",
        "service-{number}@gcp-sa-firestore.iam.gserviceaccount.com",
        "gcloud beta services identity create --service=firestore.googleapis.com "
        "--project {project}",
    ),
    "bigquery": ServiceAgent(
        "bigquery",
        "bq-{number}@bigquery-encryption.iam.gserviceaccount.com",
        "bq show --encryption_service_account --project_id={project}",
    ),
}


def agent_for(service: str) -> ServiceAgent:
    return AGENTS[service]


def agent_email(service: str, project_number: str) -> str:
    """The service agent of `service` (pubsub, secretmanager, bigquery) in that project."""
    return AGENTS[service].email(project_number)
