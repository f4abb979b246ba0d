"""Suppressions: a reason is required, environments are selected by rule, a stale or unused
one fails the gate."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from stacks.config import environment_files
from stacks.policy_gate.scanner import Finding, ScanResult
from stacks.policy_gate.selectors import PROPERTIES, environment_facts
from stacks.policy_gate.stackfile import ResourceInfo, StackFile
from stacks.policy_gate.suppressions import SuppressionError, load_suppressions
from stacks.policy_gate.verdict import judge
from tests.policy.fabricated import document, no_kms_stack, write_stack
from tests.policy.gate import GateRun, run_gate, write_suppressions
from tests.support.environments import ENVIRONMENTS
from tests.support.processes import REPO

REASON = "accepted on purpose for this test: nothing here is deployed anywhere"
# Two made-up environments the rules below are matched against (not the repository's).
SMALL = {**dict.fromkeys(PROPERTIES, False), "deploy_handlers": True}
BIG = {**SMALL, "protected": True, "kms": True}
FACTS = {"small": SMALL, "big": BIG}


def entry(**overrides: Any) -> dict[str, Any]:
    base = {"check": "CKV_CIO_4", "resource": "x", "environments": "all", "reason": REASON}
    return {**base, **overrides}


@pytest.fixture(scope="module")
def stale_and_unused(tmp_path_factory: pytest.TempPathFactory) -> GateRun:
    """One stack whose only resource passes every check, and two bad suppressions."""
    outdir = tmp_path_factory.mktemp("cdktf.out-suppressions")
    write_stack(outdir, "fabnokms", document("fabnokms", no_kms_stack("fabnokms")))
    environments = outdir / "environments"
    environments.mkdir()
    any_file = environment_files(ENVIRONMENTS)[0]  # the rules below select `all`
    shutil.copyfile(any_file, environments / "fabnokms.yaml")
    suppressions = write_suppressions(
        outdir / "suppressions.yaml",
        [
            entry(resource="google_storage_bucket.removed_long_ago"),
            entry(resource="plain_secret"),
        ],
    )
    reports = tmp_path_factory.mktemp("reports-suppressions")
    return run_gate(
        outdir, reports, "--env", "fabnokms", "--suppressions", str(suppressions),
        "--environments", str(environments),
    )  # fmt: skip


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
        ({"environments": ["small"]}, "a list of environment names (['small']) is not accepted"),
        ({"environments": ["small"]}, "`environments: all`, or a mapping of properties"),
        ({"environments": "small"}, "'small' is not a rule"),
        ({"environments": None}, "None is not a rule"),
        ({"environments": {"cmek": False}}, "unknown properties ['cmek']"),
        ({"environments": {"kms": "no"}}, "['kms'] must be true or false"),
        ({"environments": {"kms": True, "protected": False}}, "matches no environment file"),
        ({"resource": ""}, "resource is missing"),
        ({"owner": "me"}, "unknown field 'owner'"),
    ],
)
def test_invalid_entries_are_named(tmp_path: Path, override: dict[str, Any], message: str) -> None:
    path = write_suppressions(tmp_path / "s.yaml", [entry(), entry(**override)])
    with pytest.raises(SuppressionError, match="suppression #2") as failure:
        load_suppressions(path, FACTS)
    assert message in str(failure.value)


def test_repository_suppressions_are_valid() -> None:
    suppressions = load_suppressions(
        REPO / "policy" / "suppressions.yaml", environment_facts(ENVIRONMENTS)
    )
    assert suppressions and all(len(s.reason) > 40 for s in suppressions)


def test_rules_select_environments_by_what_their_file_sets(tmp_path: Path) -> None:
    path = write_suppressions(
        tmp_path / "s.yaml",
        [
            entry(environments="all"),
            entry(environments={"kms": False}),
            entry(environments={"protected": True, "kms": True}),
        ],
    )
    every, without_kms, protected_cmek = load_suppressions(path, FACTS)
    assert [str(s.environments) for s in (every, without_kms, protected_cmek)] == [
        "all",
        "{kms: false}",
        "{kms: true, protected: true}",
    ]
    assert every.environments.matches(SMALL) and every.environments.matches(BIG)
    assert every.environments.mismatch(None) == "it has no environment file"
    assert without_kms.environments.matches(SMALL)
    assert not without_kms.environments.matches(BIG)
    assert without_kms.environments.mismatch(BIG) == "it sets kms_keys"
    assert protected_cmek.environments.mismatch(SMALL) == "it sets no kms_keys, it is not protected"
    assert protected_cmek.environments.mismatch(None) == "it has no environment file"


def test_resource_matches_by_address_or_construct_path_with_wildcards(tmp_path: Path) -> None:
    path = write_suppressions(
        tmp_path / "s.yaml",
        [
            entry(check="CKV_GCP_83", resource="event-bus/topic-*", environments={"kms": False}),
            entry(check="CKV_GCP_62", resource="google_storage_bucket.handlers_sources_*"),
        ],
    )
    by_path, by_address = load_suppressions(path, FACTS)
    topic = ResourceInfo(
        "google_pubsub_topic.t_1", "google_pubsub_topic", "t_1", "event-bus/topic-track"
    )
    bucket = ResourceInfo(
        "google_storage_bucket.handlers_sources_602D480E",
        "google_storage_bucket",
        "handlers_sources_602D480E",
        "handlers/sources",
    )
    assert by_path.applies(SMALL, "CKV_GCP_83", topic)
    assert not by_path.applies(BIG, "CKV_GCP_83", topic)
    assert not by_path.applies(SMALL, "CKV_GCP_62", topic)
    assert by_address.applies(SMALL, "CKV_GCP_62", bucket)
    assert not by_address.covers(topic)


def test_a_failure_names_the_suppression_whose_rule_excludes_the_environment(
    tmp_path: Path,
) -> None:
    path = write_stack(tmp_path, "big", document("big", no_kms_stack("big")))
    stack = StackFile.load("big", path)
    finding = Finding(
        "CKV_CIO_4", "replication", "google_secret_manager_secret.plain_secret", (1, 2)
    )
    rules = write_suppressions(
        tmp_path / "s.yaml", [entry(resource="plain_secret", environments={"kms": False})]
    )
    suppressions = load_suppressions(rules, FACTS, "policy/suppressions.yaml")
    verdict = judge(stack, ScanResult("big", "3", failed=[finding]), [], suppressions, BIG)
    assert verdict.failed == [finding] and not verdict.ok
    (note,) = verdict.excluded
    assert note.message("big") == (
        "CKV_CIO_4 is suppressed for environments with {kms: false} (policy/suppressions.yaml "
        f"#1, plain_secret: {suppressions[0].excerpt!r}); big does not match: it sets kms_keys"
    )
    assert REASON.startswith(suppressions[0].excerpt.removesuffix("..."))
    small = judge(stack, ScanResult("small", "3", failed=[finding]), [], suppressions, SMALL)
    assert small.ok and not small.excluded and len(small.suppressed) == 1
