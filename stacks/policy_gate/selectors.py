"""Which environments a suppression covers, said by rule instead of by name.

```yaml
environments: all                      # every environment
environments: {kms: false}             # environments whose file sets no kms_keys
environments: {protected: false, deploy_handlers: true}   # both must hold
```

A rule reads properties of the validated environment model (`stacks.config`), so a new
environment file is covered, or not, by what it sets: a copy of dev gets dev's suppressions,
one that sets kms_keys is judged by the CMEK checks. A list of names is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from stacks.config import Environment, load_environments

Facts = Mapping[str, bool]  # property -> value for one environment


@dataclass(frozen=True)
class Property:
    read: Callable[[Environment], bool]
    when_true: str  # why an environment with the property set does not match `false`
    when_false: str


PROPERTIES: dict[str, Property] = {
    "protected": Property(lambda e: e.protected, "it is protected", "it is not protected"),
    "kms": Property(lambda e: bool(e.kms_keys), "it sets kms_keys", "it sets no kms_keys"),
    "deploy_handlers": Property(
        lambda e: e.deploy_handlers, "it deploys handlers", "it sets deploy_handlers: false"
    ),
}
# Not read from the file: whether the stack is the environment's bootstrap stack
# (`bootstrap-<env>`, cdktf.out/bootstrap). A rule without it selects environment stacks only
# (`all` included), so an entry is written for the bootstrap on purpose: `{bootstrap: true}`.
BOOTSTRAP = "bootstrap"
BOOTSTRAP_PREFIX = "bootstrap-"
ALL = "all"
RULE_FORM = (
    f"say which environments by rule: `environments: {ALL}`, or a mapping of properties "
    "that must all hold, e.g. `{kms: false}` (environments without kms_keys), "
    "`{protected: false}`, `{deploy_handlers: true}`, `{bootstrap: true}` (the bootstrap "
    "stacks); properties: " + ", ".join([*PROPERTIES, BOOTSTRAP])
)


@dataclass(frozen=True)
class Selector:
    wanted: tuple[tuple[str, bool], ...] = ()  # empty: every environment

    def __str__(self) -> str:
        if not self.wanted:
            return ALL
        return "{" + ", ".join(f"{k}: {str(v).lower()}" for k, v in self.wanted) + "}"

    def matches(self, facts: Facts | None) -> bool:
        """`facts` is None for a stack without an environment file: no rule selects it."""
        if facts is None or facts.get(BOOTSTRAP, False) != dict(self.wanted).get(BOOTSTRAP, False):
            return False
        return all(facts[k] == v for k, v in self.wanted if k != BOOTSTRAP)

    def mismatch(self, facts: Facts | None) -> str:
        """Why an environment does not match (empty when it does)."""
        if self.matches(facts):
            return ""
        if facts is None:
            return "it has no environment file"
        bootstrap = facts.get(BOOTSTRAP, False)
        if bootstrap != dict(self.wanted).get(BOOTSTRAP, False):
            return "it is a bootstrap stack" if bootstrap else "it is not a bootstrap stack"
        reasons = [
            PROPERTIES[k].when_true if facts[k] else PROPERTIES[k].when_false
            for k, v in self.wanted
            if facts[k] != v
        ]
        return ", ".join(reasons)


def parse_selector(raw: object) -> Selector:
    """`all` or a mapping of known properties to booleans; ValueError says the rule form."""
    if raw == ALL:
        return Selector()
    if isinstance(raw, list):
        raise ValueError(
            f"a list of environment names ({raw}) is not accepted, since a new environment "
            f"would silently miss it; {RULE_FORM}"
        )
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{raw!r} is not a rule; {RULE_FORM}")
    unknown = sorted(str(k) for k in raw if k not in PROPERTIES and k != BOOTSTRAP)
    if unknown:
        raise ValueError(f"unknown properties {unknown}; {RULE_FORM}")
    not_bool = sorted(str(k) for k, v in raw.items() if not isinstance(v, bool))
    if not_bool:
        raise ValueError(f"{not_bool} must be true or false; {RULE_FORM}")
    return Selector(tuple(sorted((str(k), bool(v)) for k, v in raw.items())))


def facts_of(env: Environment) -> dict[str, bool]:
    return {name: prop.read(env) for name, prop in PROPERTIES.items()}


def environment_facts(folder: Path) -> dict[str, Facts]:
    """Every environment file of `folder`, validated, by name (raises ConfigError)."""
    return {env.name: facts_of(env) for env in load_environments(folder=folder)}


def with_bootstrap(facts: Mapping[str, Facts]) -> dict[str, Facts]:
    """The environments' facts plus, for each, its bootstrap stack `bootstrap-<env>` (the
    same file's properties and `bootstrap: true`)."""
    found: dict[str, Facts] = dict(facts)
    for name, own in facts.items():
        found[BOOTSTRAP_PREFIX + name] = {**own, BOOTSTRAP: True}
    return found
