"""The bootstrap's part of the seam: provider classes only the bootstrap app uses.

Like `stacks.cdk`, this is a module that imports the prebuilt Google provider, so a move to
CDK Terrain renames imports here too, chosen by the same switch (`CIO_CDK`, stacks/toolchain.py).
Everything else the bootstrap needs comes from `stacks.cdk`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import stacks.cdk  # first: the bundled Node and the lazy provider import
from stacks import toolchain

if TYPE_CHECKING or stacks.cdk.TOOLCHAIN is toolchain.CDKTF:
    from cdktf_cdktf_provider_google.iam_workload_identity_pool import IamWorkloadIdentityPool
    from cdktf_cdktf_provider_google.iam_workload_identity_pool_provider import (
        IamWorkloadIdentityPoolProvider,
        IamWorkloadIdentityPoolProviderOidc,
    )
    from cdktf_cdktf_provider_google.project_iam_custom_role import ProjectIamCustomRole
    from cdktf_cdktf_provider_google.project_iam_member import ProjectIamMemberCondition
    from cdktf_cdktf_provider_google.project_service import ProjectService
    from cdktf_cdktf_provider_google.storage_bucket import (
        StorageBucketLifecycleRule,
        StorageBucketLifecycleRuleAction,
        StorageBucketLifecycleRuleCondition,
        StorageBucketVersioning,
    )
else:  # CDK Terrain (docs/cdktn.md)
    from cdktn_provider_google.iam_workload_identity_pool import IamWorkloadIdentityPool
    from cdktn_provider_google.iam_workload_identity_pool_provider import (
        IamWorkloadIdentityPoolProvider,
        IamWorkloadIdentityPoolProviderOidc,
    )
    from cdktn_provider_google.project_iam_custom_role import ProjectIamCustomRole
    from cdktn_provider_google.project_iam_member import ProjectIamMemberCondition
    from cdktn_provider_google.project_service import ProjectService
    from cdktn_provider_google.storage_bucket import (
        StorageBucketLifecycleRule,
        StorageBucketLifecycleRuleAction,
        StorageBucketLifecycleRuleCondition,
        StorageBucketVersioning,
    )

__all__ = [
    "IamWorkloadIdentityPool",
    "IamWorkloadIdentityPoolProvider",
    "IamWorkloadIdentityPoolProviderOidc",
    "ProjectIamCustomRole",
    "ProjectIamMemberCondition",
    "ProjectService",
    "StorageBucketLifecycleRule",
    "StorageBucketLifecycleRuleAction",
    "StorageBucketLifecycleRuleCondition",
    "StorageBucketVersioning",
]
