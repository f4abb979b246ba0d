"""Each planted problem fails its own check (exit 1) with why the apply would fail and the fix.

Several independent problems share one run (each process costs about two seconds); every
assertion reads the block of the one FAIL line it is about.
"""

from __future__ import annotations

from tests.preflight.conftest import CHANNEL, NUMBER, POOL, PROJECT, FakeProject, key_name


def failure(stdout: str, subject: str) -> str:
    """The FAIL line naming `subject` and its indented why/fix lines."""
    lines = stdout.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("FAIL") and subject in line:
            block = [line]
            for follow in lines[index + 1 :]:
                if not follow.startswith(" "):
                    break
                block.append(follow.strip())
            return "\n".join(block)
    raise AssertionError(f"no FAIL line for {subject!r} in:\n{stdout}")


def test_secrets_without_an_enabled_version(project: FakeProject) -> None:
    # webhook-signing-key (latest): only a disabled version; site-id pinned to a version that
    # does not exist; track-api-key: the secret itself does not exist yet.
    project.store.secrets[f"projects/{PROJECT}/secrets/cio-qa-webhook-signing-key"] = []
    project.store.add(PROJECT, "cio-qa-webhook-signing-key", "old", state=2)
    project.env["secret_versions"] = {"site-id": 2}
    del project.store.secrets[f"projects/{PROJECT}/secrets/cio-qa-track-api-key"]
    run = project.run()
    assert run.code == 1, run.stdout + run.stderr
    assert len(run.lines("FAIL")) == 3

    block = failure(run.stdout, "cio-qa-webhook-signing-key (latest)")
    assert "no enabled version" in block
    assert "why: webhook reads it at start" in block
    assert (
        "fix: printf '%s' \"$VALUE\" | gcloud secrets versions add cio-qa-webhook-signing-key "
        f"--data-file=- --project {PROJECT}"
    ) in block
    assert "under `secret_versions:`, set `webhook-signing-key: 2`" in block

    block = failure(run.stdout, "cio-qa-site-id version 2 (secret_versions)")
    assert "the pinned version does not exist" in block
    assert "gcloud secrets versions add cio-qa-site-id --data-file=-" in block
    assert "set `site-id: 2`" in block

    block = failure(run.stdout, "cio-qa-track-api-key")
    assert "does not exist yet (read by identify, track)" in block
    assert "set `deploy_handlers: false`" in block
    assert "gcloud secrets versions add cio-qa-track-api-key" in block


def test_platform_problems(project: FakeProject) -> None:
    # A disabled API, a state bucket without versioning, no Workload Identity pool, a CMEK key
    # created in the wrong location, missing agent grants, a legacy domain restriction.
    project.world.enabled_apis -= {"cloudkms.googleapis.com", "run.googleapis.com"}
    project.world.buckets["acme-cio-tfstate-qa"] = False
    del project.world.pools[POOL]
    del project.world.keys[key_name("europe-west1")]
    project.world.keys[key_name("europe-west4")] = "ENABLED"
    project.world.grants[key_name("europe")].clear()
    project.world.grants[key_name("global")].clear()
    project.world.policies["iam.allowedPolicyMemberDomains"] = {
        "rules": [{"values": {"allowedValues": ["C0abc123"]}}]
    }
    project.world.channels.clear()
    run = project.run()
    assert run.code == 1, run.stdout + run.stderr

    block = failure(run.stdout, "required APIs")
    assert "not enabled: cloudkms.googleapis.com, run.googleapis.com" in block
    assert (
        f"gcloud services enable cloudkms.googleapis.com run.googleapis.com --project {PROJECT}"
    ) in block

    block = failure(run.stdout, "gs://acme-cio-tfstate-qa")
    assert "object versioning is off" in block
    assert "gcloud storage buckets update gs://acme-cio-tfstate-qa --versioning" in block

    block = failure(run.stdout, "workloadIdentityPools/github")
    assert "does not exist" in block and "CI cannot plan or apply" in block
    assert (
        f"gcloud iam workload-identity-pools create github --location global --project {PROJECT}"
    ) in block

    block = failure(run.stdout, "pubsub in europe-west1")
    assert "key cio-qa not found in key ring cio in europe-west1" in block
    assert (
        "gcloud kms keys create cio-qa --purpose encryption --keyring cio "
        "--location europe-west1 --project acme-security"
    ) in block

    block = failure(run.stdout, "secretmanager in global")
    agent = f"service-{NUMBER}@gcp-sa-secretmanager.iam.gserviceaccount.com"
    assert f"{agent} lacks roles/cloudkms.cryptoKeyEncrypterDecrypter" in block
    assert (
        "gcloud beta services identity create --service=secretmanager.googleapis.com "
        f"--project {PROJECT}"
    ) in block
    assert (
        "gcloud kms keys add-iam-policy-binding cio-qa --keyring cio --location global "
        f"--project acme-security --member serviceAccount:{agent} "
        "--role roles/cloudkms.cryptoKeyEncrypterDecrypter"
    ) in block
    block = failure(run.stdout, "bigquery in europe")
    assert f"bq show --encryption_service_account --project_id={PROJECT}" in block
    assert f"bq-{NUMBER}@bigquery-encryption.iam.gserviceaccount.com" in block

    block = failure(run.stdout, "iam.allowedPolicyMemberDomains")
    assert "refuses allUsers, which cio-qa-webhook need" in block
    assert f"gcloud org-policies reset iam.allowedPolicyMemberDomains --project {PROJECT}" in block
    assert (
        f"gcloud run services update cio-qa-webhook --region europe-west1 --project {PROJECT} "
        "--no-invoker-iam-check"
    ) in block
    block = failure(run.stdout, CHANNEL)
    assert "the notification channel does not exist" in block
    assert f"gcloud beta monitoring channels list --project {PROJECT}" in block
    assert len(run.lines("FAIL")) == 8


def test_project_number_mismatch_missing_bucket_managed_constraint(project: FakeProject) -> None:
    project.env["project_number"] = "999999999999"
    project.world.buckets.clear()
    project.world.policies["iam.managed.allowedPolicyMembers"] = {
        "rules": [
            {"enforce": True, "parameters": {"allowedMemberSubjects": ["domain:acme.example"]}}
        ]
    }
    run = project.run()
    assert run.code == 1, run.stdout + run.stderr
    block = failure(run.stdout, PROJECT)
    assert f"project_number 999999999999 in {project.env_dir / 'qa.yaml'}" in block
    assert f"is not this project's number {NUMBER}" in block
    assert f'set `project_number: "{NUMBER}"`' in block
    assert f"service-{NUMBER}@gcp-sa-pubsub" in run.stdout  # the real number names the agents
    assert "the state bucket does not exist" in failure(run.stdout, "gs://acme-cio-tfstate-qa")
    assert "refuses allUsers" in failure(run.stdout, "iam.managed.allowedPolicyMembers")
