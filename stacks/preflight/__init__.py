"""`cio-platform preflight ENV`: read-only checks of the live project before a plan or apply.

Each check family is one module under `checks/`; `runner` runs them, `report` prints the
result (text or `--json`). Clients come from one factory (`clients`) so tests can point every
Google API at a local fake. Nothing is written and no secret value is read: Secret Manager is
asked for version metadata only.
"""
