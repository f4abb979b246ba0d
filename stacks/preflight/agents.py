"""The Google-managed service agents that use a CMEK key, per encrypted service (one table).

Their emails follow from the project number. An agent exists only once it has been
provisioned; creating it is a write, so preflight never does it: it checks the key's policy
and prints the command that provisions a missing agent.
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
    "bigquery": ServiceAgent(
        "bigquery",
        "bq-{number}@bigquery-encryption.iam.gserviceaccount.com",
        "bq show --encryption_service_account --project_id={project}",
    ),
}


def agent_for(service: str) -> ServiceAgent:
    return AGENTS[service]
