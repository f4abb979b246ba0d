"""Suppressions: a reason is required, a stale or unused one fails the gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stacks.policy_gate.stackfile import ResourceInfo
from stacks.policy_gate.suppressions import SuppressionError, load_suppressions
from tests.policy.fabricated import document, no_kms_stack, write_stack
from tests.policy.gate import GateRun, run_gate, write_suppressions
from tests.support.processes import REPO

REASON = "accepted on purpose for this test: nothing here is deployed anywhere"
ENVS = {"dev", "staging", "prod"}


def entry(**overrides: Any) -> dict[str, Any]:
    base = {"check": "CKV_CIO_4", "resource": "x", "environments": ["dev"], "reason": REASON}
    return {**base, **overrides}


@pytest.fixture(scope="module")
def stale_and_unused(tmp_path_factory: pytest.TempPathFactory) -> GateRun:
    """One stack whose only resource passes every check, and two bad suppressions."""
    outdir = tmp_path_factory.mktemp("cdktf.out-suppressions")
    write_stack(outdir, "fabnokms", document("fabnokms", no_kms_stack("fabnokms")))
    suppressions = write_suppressions(
        outdir / "suppressions.yaml",
        [
            entry(resource="google_storage_bucket.removed_long_ago", environments=["fabnokms"]),
            entry(resource="plain_secret", environments=["fabnokms"]),
        ],
    )
    reports = tmp_path_factory.mktemp("reports-suppressions")
    return run_gate(outdir, reports, "--env", "fabnokms", "--suppressions", str(suppressions))


def test_stale_suppression_fails_the_gate(stale_and_unused: GateRun) -> None:
    assert stale_and_unused.returncode == 1
    assert stale_and_unused.line("fabnokms").split()[3:] == ["0", "0", "ok", "FAIL"]
    assert (
        "stale suppression #1 (CKV_CIO_4 on google_storage_bucket.removed_long_ago): no resource"
        in stale_and_unused.stdout
    )


def test_suppression_that_hides_nothing_fails_the_gate(stale_and_unused: GateRun) -> None:
    assert "unused suppression #2 (CKV_CIO_4 on plain_secret): CKV_CIO_4 passes" in (
        stale_and_unused.stdout
    )


def test_gate_refuses_a_suppression_without_reason(tmp_path: Path) -> None:
    suppressions = write_suppressions(tmp_path / "s.yaml", [entry(reason="")])
    run = run_gate(tmp_path, tmp_path / "reports", "--suppressions", str(suppressions))
    assert run.returncode == 2
    assert "suppression #1 (CKV_CIO_4 on x): a reason is required" in run.stderr
    assert not (tmp_path / "reports").exists(), "checkov must not run"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"reason": "   todo  "}, "a reason is required"),
        ({"check": "GCP_62"}, "is not a checkov id"),
        ({"environments": ["qa"]}, "unknown environments ['qa']"),
        ({"environments": "dev"}, "environments must be a non-empty list"),
        ({"resource": ""}, "resource is missing"),
        ({"owner": "me"}, "unknown field 'owner'"),
    ],
)
def test_invalid_entries_are_named(tmp_path: Path, override: dict[str, Any], message: str) -> None:
    path = write_suppressions(tmp_path / "s.yaml", [entry(), entry(**override)])
    with pytest.raises(SuppressionError, match="suppression #2") as failure:
        load_suppressions(path, ENVS)
    assert message in str(failure.value)


def test_repository_suppressions_are_valid() -> None:
    suppressions = load_suppressions(REPO / "policy" / "suppressions.yaml", ENVS)
    assert suppressions and all(len(s.reason) > 40 for s in suppressions)


def test_resource_matches_by_address_or_construct_path_with_wildcards(tmp_path: Path) -> None:
    path = write_suppressions(
        tmp_path / "s.yaml",
        [
            entry(check="CKV_GCP_83", resource="event-bus/topic-*", environments=["dev"]),
            entry(check="CKV_GCP_62", resource="google_storage_bucket.handlers_sources_*"),
        ],
    )
    by_path, by_address = load_suppressions(path, ENVS)
    topic = ResourceInfo(
        "google_pubsub_topic.t_1", "google_pubsub_topic", "t_1", "event-bus/topic-track"
    )
    bucket = ResourceInfo(
        "google_storage_bucket.handlers_sources_602D480E",
        "google_storage_bucket",
        "handlers_sources_602D480E",
        "handlers/sources",
    )
    assert by_path.applies("dev", "CKV_GCP_83", topic)
    assert not by_path.applies("prod", "CKV_GCP_83", topic)
    assert not by_path.applies("dev", "CKV_GCP_62", topic)
    assert by_address.applies("dev", "CKV_GCP_62", bucket)
    assert not by_address.covers(topic)
