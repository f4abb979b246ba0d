"""The user's trial from issue 10: `cp environments/dev.yaml environments/qa.yaml` (own project
and state bucket), synthesize everything, run the real gate with the repository's
suppressions. A copy of dev passes as dev does; one that sets kms_keys is judged by the CMEK
checks, and a failure a rule leaves unsuppressed names that rule."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from stacks.policy_gate.selectors import environment_facts
from stacks.policy_gate.suppressions import load_suppressions
from tests.policy.gate import GateRun, run_gate
from tests.support.environments import copy_environments, environment_names, raw_environment

CMEK_CHECKS = {"CKV_GCP_80", "CKV_GCP_81", "CKV_GCP_83"}
SUPPRESSIONS = Path(__file__).resolve().parents[2] / "policy" / "suppressions.yaml"


def qa_from_dev(name: str = "qa") -> dict[str, Any]:
    return {
        **raw_environment("dev"),
        "project_id": f"acme-cio-{name}",
        "state_bucket": f"acme-cio-tfstate-{name}",
    }


def with_cmek(data: dict[str, Any]) -> dict[str, Any]:
    """prod's keys and secret replicas (every encrypted service needs a key in its location)."""
    prod = raw_environment("prod")
    keys = ("kms_keys", "secret_replica_locations")
    return {**data, **{key: prod[key] for key in keys}}


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GateRun]:
    """The repository's environments plus `qa` (dev's copy) and `qakms` (with CMEK), all
    synthesized, and the gate over them as `make platform` runs it."""
    from stacks.app import load_environments, synth

    root = tmp_path_factory.mktemp("new-environment")
    folder = copy_environments(
        root / "environments", qa=qa_from_dev(), qakms=with_cmek(qa_from_dev("qakms"))
    )
    synth(load_environments(folder=folder), root / "cdktf.out")
    gate = run_gate(root / "cdktf.out", root / "reports", "--environments", str(folder))
    return root, gate


def summary(gate: GateRun) -> dict[str, Any]:
    data = json.loads((gate.reports / "summary.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_a_copy_of_dev_passes_with_the_repository_suppressions(
    trial: tuple[Path, GateRun],
) -> None:
    _, gate = trial
    assert gate.returncode == 0, gate.stdout + gate.stderr
    for env in [*environment_names(), "qa", "qakms"]:
        assert re.fullmatch(rf"{env}\s+\d+\s+\d+\s+0\s+\d+\s+ok\s+PASS", gate.line(env))
    assert not re.search(r"\bqa\b", SUPPRESSIONS.read_text(encoding="utf-8")), "none for qa"
    envs = summary(gate)["environments"]
    suppressed = {(s["check"], s["suppression"]) for s in envs["qa"]["suppressed"]}
    assert suppressed == {(s["check"], s["suppression"]) for s in envs["dev"]["suppressed"]}


def test_an_environment_with_kms_keys_is_judged_by_the_cmek_checks(
    trial: tuple[Path, GateRun],
) -> None:
    root, gate = trial
    rules = {
        s.index: s
        for s in load_suppressions(SUPPRESSIONS, environment_facts(root / "environments"))
    }
    envs = summary(gate)["environments"]
    hidden = {
        (s["check"], s["resource"]): rules[s["suppression"]] for s in envs["qakms"]["suppressed"]
    }
    results = {
        (check, address): outcome
        for (env, check, address), outcome in gate.checkov_results.items()
        if env == "qakms" and check in CMEK_CHECKS
    }
    assert {check for check, _ in results} == CMEK_CHECKS, "the CMEK checks ran on qakms"
    for (check, address), outcome in results.items():
        if outcome == "FAILED":  # only where a rule about something else accepts it (views)
            assert "kms" not in str(hidden[(check, address)].environments), (check, address)
    passed = {check for (check, _), outcome in results.items() if outcome == "PASSED"}
    assert passed == CMEK_CHECKS, "topics, dataset and table use the keys"
    assert {check for check, _ in hidden} == {
        s["check"]
        for s in envs["qa"]["suppressed"]
        if "kms" not in str(rules[s["suppression"]].environments)
    }, "the rules that do not depend on kms_keys apply as they do to qa"


def test_a_failure_left_out_by_a_rule_names_the_rule(
    trial: tuple[Path, GateRun], tmp_path: Path
) -> None:
    """qa's stack was built without keys; judged as if its file set kms_keys, the topics fail
    CKV_GCP_83, and the gate says which suppression its rule kept from qa and why."""
    root, _ = trial
    folder = copy_environments(tmp_path / "environments", qa=with_cmek(qa_from_dev()))
    gate = run_gate(
        root / "cdktf.out", tmp_path / "reports", "--env", "qa", "--environments", str(folder)
    )
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "qa: CKV_GCP_83 google_pubsub_topic." in gate.stdout
    note = re.search(
        r"qa: note: CKV_GCP_83 \(\d+ findings\) is suppressed for environments with "
        r"\{kms: false\} \(policy/suppressions\.yaml #\d+, event-bus/topic-\*: '[^']+'\); "
        r"qa does not match: it sets kms_keys",
        gate.stdout,
    )
    assert note, gate.stdout
    excluded = summary(gate)["environments"]["qa"]["excluded_by_rule"]
    assert {e["check"] for e in excluded} == CMEK_CHECKS
    assert all(e["why"] == "it sets kms_keys" for e in excluded)
