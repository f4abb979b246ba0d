"""The CI accounts' roles against what the environment stacks really synthesize: every
resource type is covered by a role the deployer (write) and the planner (read) hold, and
no granted role goes unused. Reads `cio-platform synth --all` output."""

from __future__ import annotations

from bootstrap import roles
from bootstrap.apis import apis_for, required_apis
from tests.cicd.support import Stacks


def types_in(stacks: Stacks) -> set[str]:
    found = set()
    for stack in stacks.values():
        for kind in ("resource", "data"):
            found.update(roles.resource_key(kind, t) for t in stack.get(kind, {}))
    return found - roles.LOCAL_TYPES


def test_every_synthesized_type_has_a_role(synthesized_stacks: Stacks) -> None:
    missing = types_in(synthesized_stacks) - set(roles.RESOURCE_ROLES)
    assert not missing, f"add these to bootstrap/roles.py RESOURCE_ROLES: {sorted(missing)}"


def test_deployer_and_planner_hold_the_roles_those_types_need(synthesized_stacks: Stacks) -> None:
    deployer, planner = roles.deployer_roles(), roles.planner_roles()
    for kind in types_in(synthesized_stacks):
        access = roles.RESOURCE_ROLES[kind]
        assert access.deployer in deployer, f"{kind}: deployer lacks {access.deployer}"
        assert access.planner in planner, f"{kind}: planner lacks {access.planner}"
    assert all(reason for reason in {**deployer, **planner}.values()), "every role says why"


def test_nothing_broader_than_needed(synthesized_stacks: Stacks) -> None:
    used = types_in(synthesized_stacks)
    needed_deployer = {roles.RESOURCE_ROLES[t].deployer for t in used} | set(roles.DEPLOYER_EXTRA)
    needed_planner = {roles.RESOURCE_ROLES[t].planner for t in used} | set(roles.PLANNER_EXTRA)
    assert set(roles.deployer_roles()) == needed_deployer
    assert set(roles.planner_roles()) == needed_planner
    everything = set(roles.deployer_roles()) | set(roles.planner_roles())
    assert not everything & roles.PRIMITIVE_ROLES
    admins = {r for r in everything if r.lower().endswith("admin")}
    assert admins == {
        "roles/pubsub.admin",  # setIamPolicy on topics/subscriptions exists only here
        "roles/resourcemanager.projectIamAdmin",  # conditioned to the grantable roles
        "roles/run.admin",  # the webhook's public invoker binding
        "roles/storage.admin",
    }, "a new admin-level role needs a reason no narrower role works"


def test_deployer_grants_exactly_the_project_roles_the_stacks_grant(
    synthesized_stacks: Stacks,
) -> None:
    granted = {
        member["role"]
        for stack in synthesized_stacks.values()
        for member in stack.get("resource", {}).get("google_project_iam_member", {}).values()
    }
    assert granted == set(roles.GRANTABLE_PROJECT_ROLES), (
        "update GRANTABLE_PROJECT_ROLES (the deployer's IAM condition) to the stacks' grants"
    )


def test_act_as_only_on_the_workload_accounts(
    synthesized_stacks: Stacks, bootstrap_stacks: Stacks
) -> None:
    """Functions and push subscriptions run as accounts the bootstrap creates; the deployer may
    act as exactly those, and holds no project-wide serviceAccountUser or -Admin (with those it
    could act as, or rewrite the IAM of, any account, the default compute account included)."""
    assert "roles/iam.serviceAccountUser" not in roles.deployer_roles()
    assert "roles/iam.serviceAccountAdmin" not in roles.deployer_roles()
    for name, stack in synthesized_stacks.items():
        looked_up = {a["account_id"] for a in stack["data"]["google_service_account"].values()}
        # the smoke account is looked up too, but nothing runs as it: no actAs for the deployer
        looked_up -= {f"cio-{name}-smoke"}
        boot = bootstrap_stacks[f"bootstrap-{name}"]["resource"]
        created = {a["account_id"] for a in boot["google_service_account"].values()}
        assert looked_up <= created, "the bootstrap must create every account the stack uses"
        acts_as = {
            key.removeprefix("deployer-acts-as-")
            for key, member in boot["google_service_account_iam_member"].items()
            if member["role"] == "roles/iam.serviceAccountUser"
        }
        workload = {
            k.removeprefix("workload-") for k in boot["google_service_account"] if "workload-" in k
        }
        assert len(workload) == len(looked_up)
        assert acts_as == workload
        assert "google_service_account" not in stack.get("resource", {})
        assert "google_service_account_iam_member" not in stack.get("resource", {})


def test_every_synthesized_type_has_its_api_enabled(synthesized_stacks: Stacks) -> None:
    enabled = required_apis(kms=False)
    for kind in sorted(types_in(synthesized_stacks)):
        needed = apis_for(kind)
        assert needed, f"{kind}: add its API to bootstrap/apis.py API_FOR_TYPE"
        assert set(needed) <= enabled, f"{kind}: {set(needed) - enabled} not enabled"
