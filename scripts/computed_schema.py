"""Build scripts/data/computed_attributes.json: which attributes of each Google resource type
are computed-only (set by Google, never by the configuration), per the provider schema.

`terraform providers schema -json` needs the provider binary and the network; this reads the
same schema offline from the prebuilt provider package the stacks are built with
(`cdktf-cdktf-provider-google`, Google provider 6.50.0). Its jsii bundle
(`_jsii/provider-google@<version>.jsii.tgz`) holds the generated JavaScript of every resource,
and the generator wrote the schema of each attribute above its accessor:

    // num_rows - computed: true, optional: false, required: false

"computed: true, optional: false, required: false" is Terraform's computed-only. Nested
blocks are followed through the `new <Class>(this, "<block>")` that builds them, so
computed-only attributes inside blocks (`build_config.build`, `service_config.uri`) are
found too. The output keeps only types the stacks use, and only blocks holding a
computed-only attribute.

    python scripts/computed_schema.py TYPE... > scripts/data/computed_attributes.json

Standard library only. tests/cicd/test_plan_fingerprint.py regenerates the file from the
installed package and compares.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import tarfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parent / "data" / "computed_attributes.json"
CLASS = re.compile(r"^(?:export )?class (\w+) extends ", re.MULTILINE)
ATTRIBUTE = re.compile(
    r"// (\w+) - computed: (true|false), optional: (true|false), required: (true|false)\n"
    r"(?:\s*this\._\w+ = new (\w+)\(this, \"\w+\")?"
)
RESOURCE_TYPE = re.compile(r"\.tfResourceType = \"(\w+)\";")
Tree = dict[str, Any]  # {"computed": [...], "blocks": {name: Tree}}


def bundle_path() -> Path:
    """The jsii bundle of the installed provider package."""
    spec = importlib.util.find_spec("cdktf_cdktf_provider_google")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("cdktf-cdktf-provider-google is not installed (make venv)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "_jsii"
    found = sorted(folder.glob("provider-google@*.jsii.tgz"))
    if not found:
        raise FileNotFoundError(f"no provider-google jsii bundle in {folder}")
    return found[-1]


def _classes(source: str) -> dict[str, str]:
    """Class name -> its body, from one generated index.js."""
    starts = [(m.start(), m.group(1)) for m in CLASS.finditer(source)]
    bodies = {}
    for index, (start, name) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(source)
        bodies[name] = source[start:end]
    return bodies


def _tree(body: str, classes: dict[str, str], seen: frozenset[str]) -> Tree:
    computed: list[str] = []
    blocks: dict[str, Tree] = {}
    for match in ATTRIBUTE.finditer(body):
        name, is_computed, optional, required, nested = match.groups()
        if is_computed == "true" and optional == "false" and required == "false":
            computed.append(name)
            continue
        if nested and nested in classes and nested not in seen:
            inner = classes[nested]
            item = re.search(r"get\(index\) \{\s*return new (\w+)\(", inner)  # a block list
            target = item.group(1) if item else nested
            sub = _tree(classes.get(target, inner), classes, seen | {nested, target})
            if sub["computed"] or sub["blocks"]:
                blocks[name] = sub
    return {"computed": sorted(set(computed)), "blocks": dict(sorted(blocks.items()))}


def extract(bundle: Path, types: Iterable[str]) -> dict[str, Tree]:
    """Computed-only attributes of each wanted resource type."""
    wanted = set(types)
    found: dict[str, Tree] = {}
    with tarfile.open(bundle) as archive:
        for member in archive:
            if not (member.isfile() and member.name.endswith("/index.js")):
                continue
            if not member.name.startswith("package/lib/"):
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            source = handle.read().decode("utf-8")
            declared = RESOURCE_TYPE.search(source)
            if declared is None or declared.group(1) not in wanted:
                continue
            classes = _classes(source)
            mains = [
                name
                for name, body in classes.items()
                if "extends cdktf.TerraformResource" in body.splitlines()[0]
            ]
            if not mains:  # a data source of the same type name
                continue
            found[declared.group(1)] = _tree(classes[mains[0]], classes, frozenset(mains))
    missing = wanted - set(found)
    if missing:
        raise KeyError(f"not in {bundle.name}: {', '.join(sorted(missing))}")
    return dict(sorted(found.items()))


def document(bundle: Path, types: Iterable[str]) -> dict[str, Any]:
    return {
        "_source": (
            f"Computed-only attributes (computed, neither optional nor required) from the "
            f"schema comments in {bundle.name} (cdktf-cdktf-provider-google, offline), by "
            "scripts/computed_schema.py; regenerate when the provider package changes"
        ),
        "types": extract(bundle, types),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("types", nargs="+", help="Terraform resource types (google_*)")
    parser.add_argument("--bundle", type=Path, default=None, help="the .jsii.tgz to read")
    args = parser.parse_args(argv)
    try:
        data = document(args.bundle or bundle_path(), args.types)
    except (FileNotFoundError, KeyError) as exc:
        print(f"computed_schema: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
