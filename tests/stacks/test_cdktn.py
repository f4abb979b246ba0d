"""CDK Terrain through the seam: `make synth CDK=cdktn` for both flavors against the default.

0.23 (the same Google 6.50.0 and time 0.13.1 providers) must equal the default synth byte for
byte, once the differences stacks/data/cdktn-differences.yaml lists and the whitespace of empty
arrays and objects are accounted for. 0.24 (Google 8.7.0) must have the same resource addresses
and the same values for the attributes that matter, with every other difference listed there;
each change the provider's major versions made to what we synthesize is listed with how it is
handled, and checked. The policy gate passes on the 0.24 output.

Both flavors are built and synthesized by the Makefile (`make synth CDK=cdktn CDKTN=...`), in
their own virtual environments; a flavor that cannot be installed fails here with make's output.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks import toolchain
from tests.test_architecture import imported_roots, python_files

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DIFFERENCES = REPO / "stacks" / "data" / "cdktn-differences.yaml"
CDKTN_PACKAGES = {"cdktn", "cdktn_provider_google", "cdktn_provider_time"}
SEAM = {REPO / "stacks" / "cdk.py", REPO / "stacks" / "cdk_bootstrap.py"}
# Attributes that matter, wherever they sit in a resource: names, IAM, push and dead-letter
# settings, ingress, secrets, encryption, labels.
MATTERS = {
    "name",
    "account_id",
    "secret_id",
    "topic",
    "subscription",
    "dataset_id",
    "table_id",
    "bucket",
    "member",
    "members",
    "role",
    "permissions",
    "condition",
    "push_config",
    "oidc_token",
    "push_endpoint",
    "dead_letter_policy",
    "retry_policy",
    "ack_deadline_seconds",
    "ingress_settings",
    "secret_environment_variables",
    "service_account_email",
    "replication",
    "kms_key_name",
    "encryption",
    "default_encryption_configuration",
    "customer_managed_encryption",
    "labels",
    "deletion_protection",
    "attribute_condition",
    "attribute_mapping",
}


def differences() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DIFFERENCES.read_text(encoding="utf-8"))
    return loaded


# --- fast: the switch and the seam -----------------------------------------------------------


def test_the_default_toolchain_is_cdktf_and_cio_cdk_selects_cdktn() -> None:
    assert toolchain.selected({}) is toolchain.CDKTF
    assert toolchain.selected({"CIO_CDK": ""}) is toolchain.CDKTF
    assert toolchain.selected({"CIO_CDK": "cdktn"}) is toolchain.CDKTN
    with pytest.raises(toolchain.ToolchainError, match="cdktf, cdktn"):
        toolchain.selected({"CIO_CDK": "cdk-terrain"})


def test_the_default_seam_keeps_its_lazy_import_of_the_cdktf_provider() -> None:
    from stacks import cdk

    if os.environ.get(toolchain.ENV):
        pytest.fail(f"the test suite runs the default toolchain; unset {toolchain.ENV}")
    assert cdk.TOOLCHAIN is toolchain.CDKTF
    assert cdk.PROVIDER_PACKAGE == "cdktf_cdktf_provider_google"


def test_only_the_seam_imports_cdk_terrain() -> None:
    folders = ("stacks", "bootstrap", "functions", "toolkit", "simulator", "scripts", "bench")
    offenders = {
        str(p.relative_to(REPO)): sorted(imported_roots(p) & CDKTN_PACKAGES)
        for folder in folders
        if (REPO / folder).is_dir()
        for p in python_files(folder)
        if p not in SEAM and imported_roots(p) & CDKTN_PACKAGES
    }
    assert not offenders, offenders
    for seam in SEAM:
        assert imported_roots(seam) & CDKTN_PACKAGES, f"{seam.name} has no CDK Terrain branch"


def test_each_flavor_pins_its_toolchain_and_providers_with_hashes() -> None:
    expected = {
        "0.23": {
            "cdktn": "0.23.4",
            "cdktn-provider-google": "18.0.0",
            "cdktn-provider-time": "13.0.0",
        },
        "0.24": {
            "cdktn": "0.24.0",
            "cdktn-provider-google": "21.1.0",
            "cdktn-provider-time": "14.0.2",
        },
    }
    for flavor in toolchain.FLAVORS:
        locked = (REPO / "requirements" / f"cdktn-{flavor}.txt").read_text(encoding="utf-8")
        pins = toolchain.pins(locked)
        assert {name: pins.get(name) for name in expected[flavor]} == expected[flavor]
        assert "cdktf" not in pins, "a CDK Terrain environment must not carry CDKTF"
        assert locked.count("--hash=sha256:") == len(pins), "every pin has its hash"
        source = toolchain.pins((REPO / "requirements" / f"cdktn-{flavor}.in").read_text())
        assert all(pins[name] == version for name, version in source.items())


# --- slow: both flavors synthesized by make, against the default ------------------------------


def run(cmd: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, check=False, env=env or dict(os.environ)
    )
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The default synth (what `make synth` and `make bootstrap-synth` run) and both flavors."""
    root = tmp_path_factory.mktemp("cdktn")
    env = {k: v for k, v in os.environ.items() if k not in {toolchain.ENV, "MAKEFLAGS"}}
    found = {"default": root / "default"}
    run([str(BIN / "cio-platform"), "synth", "--all", "--outdir", str(found["default"])], env)
    run([str(BIN / "python"), "-m", "bootstrap.app", "--out", str(found["default"] / "bootstrap")])
    blocked = differences().get("blocked") or {}
    for flavor in toolchain.FLAVORS:
        found[flavor] = root / flavor
        make = ["make", "--no-print-directory", "synth", "CDK=cdktn", f"CDKTN={flavor}"]
        if flavor not in blocked:
            run([*make, f"CDK_OUT={found[flavor]}"], env)
            continue
        done = subprocess.run(
            [*make, f"CDK_OUT={found[flavor]}"],
            cwd=REPO,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        # the command line's message and an exception's last line: each must be the reviewed one
        errors = [line for line in done.stderr.splitlines() if FAILURE.match(line)]
        assert done.returncode != 0, f"{flavor} synthesizes now: remove its `blocked` entry"
        assert errors, done.stderr
        assert all(re.search(blocked[flavor]["error"], line) for line in errors), done.stderr
        assert len(list(found[flavor].rglob("cdk.tf.json"))) >= 6, done.stdout
    return found


def missing_when_blocked(flavor: str, names: set[str]) -> set[str]:
    """The files a blocked flavor does not write (the listed patterns), of `names`."""
    patterns = (differences().get("blocked") or {}).get(flavor, {}).get("missing_files", [])
    return {n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)}


def files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}


def text(path: Path, root: Path) -> str:
    """A file's text with its output folder (the bootstrap's local state path) neutralized."""
    return path.read_text(encoding="utf-8").replace(str(root.resolve()), "<outdir>")


def listed(flavor: str, name: str) -> list[tuple[int, dict[str, Any]]]:
    """The listed output differences that apply to a file, with their index in the list."""
    return [
        (index, entry)
        for index, entry in enumerate(differences()["output"][flavor])
        if any(fnmatch.fnmatch(name, pattern) for pattern in entry["files"])
    ]


def get(document: Any, path: list[str]) -> Any:
    for key in path:
        document = document[key]
    return document


def put(document: Any, path: list[str], value: Any) -> None:
    get(document, path[:-1])[path[-1]] = value


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path, value


FAILURE = re.compile(r"^(synth failed:|[\w.]*(Error|Exception):)")
EMPTY = re.compile(r"(\[|\{)\s+(\]|\})")


@pytest.mark.slow
def test_cdktn_023_output_equals_the_default_byte_for_byte_but_the_listed_values(
    outputs: dict[str, Path],
) -> None:
    default, cdktn = outputs["default"], outputs["0.23"]
    assert files(default).keys() == files(cdktn).keys()
    assert any(name.startswith("bootstrap/stacks/") for name in files(cdktn))
    used: set[int] = set()
    for name, path in files(default).items():
        ours = files(cdktn)[name]
        if not name.endswith(".json"):
            assert path.read_bytes() == ours.read_bytes(), f"{name} differs (assets are bytes)"
            continue
        before, after = text(path, default), text(ours, cdktn)
        # CDKTF writes an empty array or object on two lines, cdktn as [] or {}: whitespace.
        assert EMPTY.sub(r"\1\2", before) == json.dumps(json.loads(before), indent=2), name
        expected = json.loads(before)
        for index, entry in listed("0.23", name):
            assert get(expected, entry["path"]) == str(entry["from"]), (name, entry["path"])
            put(expected, entry["path"], str(entry["to"]))
            used.add(index)
        assert json.dumps(expected, indent=2) == after, f"{name}: a difference not listed"
    assert used == set(range(len(differences()["output"]["0.23"]))), "an entry never applied"


def addresses(document: dict[str, Any]) -> set[str]:
    found = {f"{t}.{n}" for t, items in document.get("resource", {}).items() for n in items}
    found |= {f"data.{t}.{n}" for t, items in document.get("data", {}).items() for n in items}
    return found | {f"output.{n}" for n in document.get("output", {})}


def that_matter(resource: dict[str, Any]) -> dict[tuple[Any, ...], Any]:
    return {p: v for p, v in leaves(resource) if MATTERS & {k for k in p if isinstance(k, str)}}


@pytest.mark.slow
def test_cdktn_024_same_addresses_same_attributes_that_matter_every_difference_listed(
    outputs: dict[str, Path],
) -> None:
    default, cdktn = outputs["default"], outputs["0.24"]
    expected_files = files(default).keys() - missing_when_blocked("0.24", set(files(default)))
    assert expected_files == files(cdktn).keys()
    unexplained: list[str] = []
    seen: set[int] = set()
    compared = 0
    for name, path in files(default).items():
        if name not in expected_files:
            continue
        if not name.endswith(".json"):
            assert path.read_bytes() == files(cdktn)[name].read_bytes(), name
            continue
        before = json.loads(text(path, default))
        after = json.loads(text(files(cdktn)[name], cdktn))
        if name.endswith("cdk.tf.json"):
            assert addresses(before) == addresses(after), name
            for kind in ("resource", "data"):
                for rtype, items in before.get(kind, {}).items():
                    for rname, resource in items.items():
                        theirs = after[kind][rtype][rname]
                        assert that_matter(resource) == that_matter(theirs), f"{rtype}.{rname}"
                        compared += 1
        old, new = dict(leaves(before)), dict(leaves(after))
        for leaf in sorted(old.keys() | new.keys(), key=str):
            if old.get(leaf, "<absent>") == new.get(leaf, "<absent>"):
                continue
            entries = [(i, e) for i, e in listed("0.24", name) if tuple(e["path"]) == leaf]
            if entries and (old.get(leaf), new.get(leaf)) == (
                str(entries[0][1]["from"]),
                str(entries[0][1]["to"]),
            ):
                seen.add(entries[0][0])
                continue
            unexplained.append(f"{name}: {leaf}: {old.get(leaf)!r} -> {new.get(leaf)!r}")
    assert not unexplained, "differences not in stacks/data/cdktn-differences.yaml:\n" + "\n".join(
        unexplained
    )
    assert compared > 300
    stale = [e["path"] for i, e in enumerate(differences()["output"]["0.24"]) if i not in seen]
    assert not stale, f"listed but no longer different: {stale}"


def at(value: Any, path: list[str]) -> Iterator[Any]:
    """Every value at `path` under `value`, descending into lists of blocks."""
    if isinstance(value, list):
        for item in value:
            yield from at(item, path)
    elif not path:
        yield value
    elif isinstance(value, dict) and path[0] in value:
        yield from at(value[path[0]], path[1:])


def blocks(document: dict[str, Any], resource: str) -> list[Any]:
    if resource.startswith("provider."):
        return list(document.get("provider", {}).get(resource.split(".", 1)[1], []))
    if resource.startswith("data."):
        return list(document.get("data", {}).get(resource.split(".", 1)[1], {}).values())
    return list(document.get("resource", {}).get(resource, {}).values())


@pytest.mark.slow
def test_every_provider_change_on_what_we_synthesize_is_reviewed_and_handled(
    outputs: dict[str, Path],
) -> None:
    reviewed = differences()["provider"]
    found = toolchain.provider_changes([outputs["default"], outputs["0.24"]])
    assert found, "the comparison of the bindings found nothing: it is broken"
    found_keys = {(c.resource, c.attribute) for c in found}
    reviewed_keys = {(e["resource"], tuple(e["attribute"])) for e in reviewed}
    assert found_keys - reviewed_keys == set(), "changes to review in cdktn-differences.yaml"
    assert reviewed_keys - found_keys == set(), "reviewed changes the bindings no longer show"
    for entry in reviewed:
        assert entry["change"] and entry["handling"], entry
        path = entry.get("check_path", entry["attribute"])
        for flavor in ("default", "0.24"):
            stacks = list(outputs[flavor].rglob("cdk.tf.json"))
            present = [
                blk for s in stacks for blk in blocks(json.loads(s.read_text()), entry["resource"])
            ]
            values = [v for blk in present for v in at(blk, path)]
            where = f"{flavor}: {entry['resource']}.{'.'.join(path)}"
            if entry["check"] == "absent":
                assert values == [], where
            elif entry["check"] == "set":
                assert present and len(values) == len(present), where
            else:
                assert entry["check"] == "one_of", entry
                assert values and all(v in entry["values"] for v in values), (where, values)


@pytest.mark.slow
def test_the_policy_gate_passes_on_the_cdktn_024_output(
    outputs: dict[str, Path], tmp_path: Path
) -> None:
    report = run(
        [
            str(BIN / "python"),
            "-m",
            "stacks.policy_gate",
            "--outdir",
            str(outputs["0.24"]),
            "--reports",
            str(tmp_path / "reports"),
        ]
    )
    assert "policy gate passed" in report, report
    assert "bootstrap-dev" in report, "the gate checked the bootstrap stacks too"
