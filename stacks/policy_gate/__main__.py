"""`python -m stacks.policy_gate`."""

from stacks.policy_gate.cli import main

raise SystemExit(main())
