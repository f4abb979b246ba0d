"""BigQuery tables are partitioned: queries scan days, not the whole history."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from cio_policy import StackDocument, StackResourceCheck, block

NOT_STORED = ("view", "materialized_view", "external_data_configuration")


class TablePartitioned(StackResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure BigQuery tables are partitioned (time_partitioning or range_partitioning)",
            id="CKV_CIO_8",
            supported_resources=("google_bigquery_table",),
            categories=(CheckCategories.GENERAL_SECURITY,),
        )

    def evaluate(
        self, stack: StackDocument, rtype: str, name: str, resource: dict[str, Any]
    ) -> CheckResult:
        if any(block(resource, key) for key in NOT_STORED):
            return CheckResult.UNKNOWN  # views and external tables store no partitions
        self.evaluated_keys = ["time_partitioning", "range_partitioning"]
        if block(resource, "time_partitioning").get("type") or block(
            resource, "range_partitioning"
        ).get("field"):
            return CheckResult.PASSED
        return self.fail("neither time_partitioning.type nor range_partitioning.field is set")


check = TablePartitioned()
