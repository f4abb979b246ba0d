"""Point checkov's SARIF findings at tracked files before the upload to code scanning.

Checkov scans the synthesized `cdktf.out/stacks/<env>/cdk.tf.json`, which git ignores, so
code scanning could not show those findings on any file of the repository. Each such
result is moved to the environment's file, `environments/<env>.yaml` (what a reviewer
changes), with the synthesized file and line kept in the message and in the result's
properties, and a partial fingerprint per rule, environment and original line so alerts
stay distinct. Standard library only:

    python scripts/sarif_tracked.py reports/policy/checkov.sarif
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SYNTHESIZED = re.compile(r"^(?:\./)?cdktf\.out/stacks/(?P<env>[^/]+)/cdk\.tf\.json$")


def retarget(sarif: dict[str, Any]) -> int:
    """Rewrite results in place; returns how many were moved."""
    moved = 0
    for run in sarif.get("runs", []):
        for result in run.get("results", []):
            for location in result.get("locations", []):
                physical = location.get("physicalLocation", {})
                uri = physical.get("artifactLocation", {}).get("uri", "")
                match = SYNTHESIZED.match(uri)
                if not match:
                    continue
                line = physical.get("region", {}).get("startLine", 1)
                env = match["env"]
                physical["artifactLocation"] = {"uri": f"environments/{env}.yaml"}
                physical["region"] = {"startLine": 1}
                message = result.setdefault("message", {})
                message["text"] = f"{message.get('text', '')} (synthesized: {uri} line {line})"
                result.setdefault("properties", {})["synthesized"] = {"uri": uri, "line": line}
                key = f"{result.get('ruleId')}:{env}:{line}".encode()
                result.setdefault("partialFingerprints", {})["cioSynthesized/v1"] = hashlib.sha256(
                    key
                ).hexdigest()
                moved += 1
    return moved


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sarif", type=Path)
    args = parser.parse_args(argv)
    data = json.loads(args.sarif.read_text(encoding="utf-8"))
    moved = retarget(data)
    args.sarif.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"sarif_tracked: {moved} finding(s) now point at environments/<env>.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
