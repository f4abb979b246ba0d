"""The bootstrap: the resources the environment stacks need before their first plan.

State buckets, the Workload Identity pool and GitHub provider, the planner and deployer
service accounts and the APIs. A separate CDKTF app with local state (see README.md).
"""
