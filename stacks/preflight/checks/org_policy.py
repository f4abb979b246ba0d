"""No organisation policy refuses the webhook's public invoker (Org Policy v2, effective policies).

The stack grants `roles/run.invoker` to `allUsers` on each public handler. Refused by:
- the legacy list constraint `iam.allowedPolicyMemberDomains` (any allowed list or deny-all),
- the managed constraint `iam.managed.allowedPolicyMembers` unless `allUsers` is allowed,
- possibly a custom constraint on IAM allow policies or Cloud Run: its CEL condition is not
  evaluated here, so an enforced one is reported as "could not check".
Where such a policy applies, Cloud Run's documented alternative is to turn off the invoker
IAM check for that one service.
"""

from __future__ import annotations

from typing import Any

from stacks.preflight.checks.common import could_not_check
from stacks.preflight.clients import RETRY, TIMEOUT, Clients
from stacks.preflight.errors import is_not_found
from stacks.preflight.results import Result, fail, ok, unchecked
from stacks.preflight.target import Target

CHECK = "orgpolicy"
LEGACY = "iam.allowedPolicyMemberDomains"
MANAGED = "iam.managed.allowedPolicyMembers"
CUSTOM_RESOURCE_PREFIXES = ("iam.googleapis.com/", "run.googleapis.com/", "cloudfunctions.")
NEEDS = "orgpolicy.policy.get and orgpolicy.constraints.list (roles/orgpolicy.policyViewer)"


def _effective(clients: Clients, project: str, constraint: str) -> Any:
    client = clients.org_policy()
    name = f"projects/{project}/policies/{constraint}"
    return clients.rpc("orgpolicy", client.get_effective_policy, name=name)


def _rules(policy: Any) -> list[Any]:
    return list(policy.spec.rules) if policy.spec else []


def _legacy_refuses(policy: Any) -> bool | None:
    """True if allUsers is refused, False if not, None if a conditional rule decides."""
    rules = _rules(policy)
    if any(rule.condition and rule.condition.expression for rule in rules):
        return None
    if any(rule.allow_all for rule in rules):
        return False
    return any(rule.deny_all or list(rule.values.allowed_values) for rule in rules)


def _managed_refuses(policy: Any) -> bool | None:
    rules = _rules(policy)
    if any(rule.condition and rule.condition.expression for rule in rules):
        return None
    enforced = [rule for rule in rules if rule.enforce]
    if not enforced:
        return False
    for rule in enforced:
        parameters = dict(rule.parameters or {})
        if "allUsers" not in list(parameters.get("allowedMemberSubjects") or []):
            return True
    return False


def _fixes(target: Target, constraint: str, services: list[str]) -> tuple[str, ...]:
    project = target.project_id
    region = target.env.region
    return (
        f"ask the organisation's policy administrators for an exception on this project: "
        f"gcloud org-policies reset {constraint} --project {project}",
        *(
            f"or (Cloud Run's documented alternative) turn off the invoker IAM check for that "
            f"one service: gcloud run services update {service} --region {region} --project "
            f"{project} --no-invoker-iam-check (the stack must then not grant allUsers)"
            for service in services
        ),
    )


def _list_verdict(
    target: Target, constraint: str, refuses: bool | None, services: list[str]
) -> Result:
    subject = constraint
    if refuses is None:
        return unchecked(
            CHECK,
            subject,
            "a conditional (tag-based) rule applies",
            "preflight does not evaluate conditions; read the effective policy",
            f"gcloud org-policies describe {constraint} --effective --project {target.project_id}",
        )
    if refuses:
        return fail(
            CHECK,
            subject,
            f"the effective policy refuses allUsers, which {', '.join(services)} need",
            "the stack grants roles/run.invoker to allUsers on the public webhook; the "
            "organisation policy rejects that binding and the apply fails there",
            *_fixes(target, constraint, services),
        )
    return ok(CHECK, subject, "allows allUsers")


def _custom(target: Target, clients: Clients, services: list[str]) -> Result:
    client = clients.org_policy()
    parent = f"projects/{target.project_id}"
    constraints = clients.call(
        "orgpolicy",
        lambda: list(
            client.list_constraints(request={"parent": parent}, retry=RETRY, timeout=TIMEOUT)
        ),
    )
    enforced: list[str] = []
    for constraint in constraints:
        short = str(constraint.name).rsplit("/", 1)[-1]
        if not short.startswith("custom."):
            continue
        definition = constraint.boolean_constraint.custom_constraint_definition
        types = list(definition.resource_types) if definition else []
        if types and not any(t.startswith(CUSTOM_RESOURCE_PREFIXES) for t in types):
            continue
        policy = _effective(clients, target.project_id, short)
        if any(rule.enforce or rule.condition.expression for rule in _rules(policy)):
            enforced.append(short)
    if not enforced:
        return ok(CHECK, "custom constraints", "none on IAM policies or Cloud Run is enforced")
    return unchecked(
        CHECK,
        "custom constraints",
        f"enforced custom constraint(s) {', '.join(enforced)} may refuse allUsers on "
        f"{', '.join(services)}",
        "preflight does not evaluate a custom constraint's CEL condition; read it, and if it "
        "refuses allUsers use one of the fixes below",
        *(
            f"gcloud org-policies describe {name} --effective --project {target.project_id}"
            for name in enforced
        ),
        *_fixes(target, enforced[0], services)[1:],
    )


def check(target: Target, clients: Clients) -> list[Result]:
    public = target.public_handlers()
    if not public:
        return [ok(CHECK, "public invoker", "no public handler in this deploy")]
    services = [target.env.resource_name(name) for name in public]
    results: list[Result] = []
    for constraint, refuses in ((LEGACY, _legacy_refuses), (MANAGED, _managed_refuses)):
        try:
            policy = _effective(clients, target.project_id, constraint)
        except Exception as exc:
            if is_not_found(exc):
                results.append(ok(CHECK, constraint, "not available in this organisation"))
            else:
                results.append(could_not_check(CHECK, constraint, "orgpolicy", clients, exc, NEEDS))
            continue
        results.append(_list_verdict(target, constraint, refuses(policy), services))
    try:
        results.append(_custom(target, clients, services))
    except Exception as exc:
        results.append(
            could_not_check(CHECK, "custom constraints", "orgpolicy", clients, exc, NEEDS)
        )
    return results
