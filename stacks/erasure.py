"""The erasure audit: `cio-doctor erase` appends one row per run of a request to
`cio_<env>_erasure.erasure_audit` (request id, person hash, mode, who, when, what was removed
where, what is pending; no personal data). Kept without expiry: it is the proof an erasure was
done. Monthly partitions (a few rows a day at most); deletion protection where the environment
is protected. The tool creates the same table where this stack is not deployed.
"""

from __future__ import annotations

from cio_shared import contract

from stacks import cdk
from stacks.analytics import Analytics, bigquery_dataset, partitioned_table
from stacks.config import Environment


class ErasureAudit(cdk.Construct):
    def __init__(self, scope: cdk.Construct, env: Environment, analytics: Analytics) -> None:
        super().__init__(scope, "erasure")
        self.dataset = bigquery_dataset(
            self,
            env,
            "dataset",
            contract.ERASURE_PURPOSE,
            "Erasure audit of cio-doctor erase: hashes, counts and locations, no personal data",
            analytics.cmek,
        )
        self.table = partitioned_table(
            self,
            env,
            "table",
            self.dataset,
            contract.ERASURE_AUDIT_TABLE,
            "One row per run of an erasure request (cio-doctor erase)",
            contract.erasure_audit_schema(),
            {"type": "MONTH", "field": "run_at"},
            analytics.cmek,
            component="erasure",
        )
