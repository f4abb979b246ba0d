"""Google-managed service agents that encrypt with a CMEK key, named from the project number.

Each needs `roles/cloudkms.cryptoKeyEncrypterDecrypter` on the key its service uses
(https://cloud.google.com/kms/docs/cmek#service_agents). An agent exists once its service
has been used or provisioned; `PROVISION` is the command that creates a missing one.
"""

from __future__ import annotations

ENCRYPTER_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
_EMAIL = {
    "pubsub": "service-{number}@gcp-sa-pubsub.iam.gserviceaccount.com",
    "secretmanager": "service-{number}@gcp-sa-secretmanager.iam.gserviceaccount.com",
    "bigquery": "bq-{number}@bigquery-encryption.iam.gserviceaccount.com",
}
PROVISION = {
    "pubsub": "gcloud beta services identity create --service=pubsub.googleapis.com "
    "--project {project}",
    "secretmanager": "gcloud beta services identity create "
    "--service=secretmanager.googleapis.com --project {project}",
    "bigquery": "bq show --encryption_service_account --project_id={project}",
}


def agent_email(service: str, project_number: str) -> str:
    """The service agent of `service` (pubsub, secretmanager, bigquery) in that project."""
    return _EMAIL[service].format(number=project_number)


def provision_command(service: str, project_id: str) -> str:
    return PROVISION[service].format(project=project_id)
