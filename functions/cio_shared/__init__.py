"""Shared library for the Customer.io handlers: logging, Google clients, messages, client.

Imports no handler and nothing of the stacks (see docs/design.md).
"""
