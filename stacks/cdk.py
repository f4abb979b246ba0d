"""The seam: the only module that imports cdktf, constructs and the prebuilt Google provider.

CDKTF was archived in December 2025 (0.21.0 is final); its maintained continuation is CDK
Terrain (`cdktn`). Everything else imports these names from here, so a move is a rename in
this file. Importing the provider loads its whole jsii assembly (seconds): do it once.
"""

from __future__ import annotations

from cdktf import (
    App,
    AssetType,
    Aspects,
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

__all__ = [
    "App",
    "AssetType",
    "Aspects",
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
    "implements",
]
