"""Inventory snapshots: resource counts by type and the names that matter, per environment.

`make inventory` writes `tests/stacks/inventory/<env>.yaml` from the synthesized stacks;
the stack tests compare every synthesized environment against its snapshot, so a change to
what gets deployed shows up as a reviewed diff (cloud-foundation-fabric's inventory tests).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = REPO / "tests" / "stacks" / "inventory"
HEADER = (
    "# Inventory of the synthesized {env} stack (`make inventory` writes it): resource counts by\n"
    "# type and the names that matter. A change here is a change to what gets deployed.\n"
)
# type -> the attribute that names it (default: `name`); only these types list names
NAMED = {
    "google_bigquery_table": "table_id",
    "google_cloudfunctions2_function": "name",
    "google_pubsub_subscription": "name",
    "google_pubsub_topic": "name",
    "google_secret_manager_secret": "secret_id",
    "data.google_service_account": "account_id",
}


def _blocks(stack: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    blocks: dict[str, dict[str, Any]] = dict(stack.get("resource", {}))
    blocks.update({f"data.{t}": v for t, v in stack.get("data", {}).items()})
    return blocks


def inventory(stack: Mapping[str, Any]) -> dict[str, Any]:
    blocks = _blocks(stack)
    counts = Counter({rtype: len(items) for rtype, items in blocks.items()})
    names = {
        rtype: sorted(str(item[key]) for item in blocks[rtype].values())
        for rtype, key in NAMED.items()
        if rtype in blocks
    }
    return {"counts": dict(sorted(counts.items())), "names": names}


def render(env: str, stack: Mapping[str, Any]) -> str:
    return HEADER.format(env=env) + yaml.safe_dump(inventory(stack), sort_keys=True)


def write_all(stacks_dir: Path, folder: Path) -> list[Path]:
    """One snapshot per synthesized stack; snapshots of vanished stacks are removed."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(stacks_dir.glob("*/cdk.tf.json")):
        env = path.parent.name
        target = folder / f"{env}.yaml"
        target.write_text(render(env, json.loads(path.read_text(encoding="utf-8"))))
        written.append(target)
    for stale in set(folder.glob("*.yaml")) - set(written):
        stale.unlink()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks.inventory", description=__doc__)
    parser.add_argument("--stacks", type=Path, default=REPO / "cdktf.out" / "stacks")
    parser.add_argument("--out", type=Path, default=DEFAULT_FOLDER)
    args = parser.parse_args(argv)
    written = write_all(args.stacks, args.out)
    if not written:
        print(
            f"inventory: no synthesized stacks in {args.stacks}: run `make synth`", file=sys.stderr
        )
        return 2
    for path in written:
        print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
