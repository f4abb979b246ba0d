"""Synthesis of every environment against the bare provider import, in the same run.

Each measurement is a fresh process (the import cost is per process), repeated; the figures
are medians of wall-clock seconds:

- import: `python -c "import stacks.cdk"`: the provider bindings and every class the seam
  imports (jsii starts Node, which loads the constructs, cdktf and provider assemblies);
- synth: `cio-platform synth --all` into a temporary folder (import + synth + write).

Both in the two provider-import modes of stacks/cdk.py: lazy (the default) and eager
(`CIO_PROVIDER_IMPORT=eager`, the package's own import of its ~1,470 submodules). A breakdown
run per mode (`-X importtime`, `JSII_DEBUG_TIMING=1`) shows where the import time goes.

Then both modes synthesize a frozen copy of the sources (functions/, analytics/, environments/:
in a working tree that others edit, two synths seconds apart may see different handler code),
and every output file must be byte-identical, or the script exits 1.

Usage: python bench/bench_synth.py [--repeat N]
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODE_ENV = "CIO_PROVIDER_IMPORT"
MODES: dict[str, str | None] = {"lazy": None, "eager": "eager"}
IMPORT_SEAM = [str(BIN / "python"), "-c", "import stacks.cdk"]
PROVIDER = "cdktf_cdktf_provider_google"
SOURCES = ("functions", "analytics", "environments")
SYNTH_SNAPSHOT = """
import sys
from pathlib import Path
from stacks.app import load_environments, synth
from stacks.platform import SourceTree
src, outdir = Path(sys.argv[1]), Path(sys.argv[2])
tree = SourceTree(src / "functions", src / "analytics", src / "build" / "handlers")
synth(load_environments(folder=src / "environments"), outdir, tree)
"""
PROVIDER_REQUIRE = re.compile(
    r"\[@jsii/kernel:timing\] require\(\S*provider-google/lib/index\.js\): ([\d.]+)(ms|s)"
)


@dataclass
class Timings:
    imports: list[float] = field(default_factory=list)
    synths: list[float] = field(default_factory=list)


def child_env(mode: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != MODE_ENV}
    if MODES[mode]:
        env[MODE_ENV] = MODES[mode] or ""
    return {**env, **extra}


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of one fresh process and its output (jsii forwards Node's debug lines to
    stdout); a failing command stops the run."""
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed, done.stdout + done.stderr


def synth_command(outdir: Path) -> list[str]:
    return [str(BIN / "cio-platform"), "synth", "--all", "--outdir", str(outdir)]


def breakdown(mode: str) -> dict[str, float]:
    """One import with -X importtime and jsii's kernel timing: seconds per phase.

    -X importtime misses modules imported through importlib (the lazy seam's first use of a
    submodule), so the Python side is what the seam's import took beyond the Node-side loads.
    """
    cmd = [str(BIN / "python"), "-X", "importtime", *IMPORT_SEAM[1:]]
    total, output = timed(cmd, child_env(mode, JSII_DEBUG_TIMING="1"))
    cumulative: dict[str, float] = {}
    depth: dict[str, int] = {}
    for line in output.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _self_us, cumulative_us, indented = line[12:].split("|")
        name = indented.strip()
        if cumulative_us.strip().isdigit() and name not in cumulative:  # not the header
            cumulative[name] = int(cumulative_us) / 1e6
            depth[name] = len(indented) - len(indented.lstrip())
    require = PROVIDER_REQUIRE.search(output)
    require_s = float(require[1]) / (1000 if require[2] == "ms" else 1) if require else 0.0
    seam = cumulative.get("stacks.cdk", 0.0)
    cdktf = cumulative.get("cdktf", 0.0)
    assembly = cumulative.get(f"{PROVIDER}._jsii", 0.0)
    if depth.get("cdktf", 0) > depth.get(f"{PROVIDER}._jsii", 0):
        assembly -= cdktf  # the provider's _jsii imported cdktf first (the lazy seam)
    return {
        "process": total,
        "import stacks.cdk": seam,
        "constructs+cdktf (starts Node)": cdktf,
        "provider assembly load": assembly,
        "of which Node require() of its JS": require_s,
        "Python side (provider submodules)": seam - cdktf - assembly,
        "interpreter start+exit (Node stop)": total - seam,
    }


def synthesize_snapshot(scratch: Path) -> dict[str, Path]:
    """Both modes synthesize one frozen copy of the sources: mode -> output folder."""
    source = scratch / "sources"
    for name in SOURCES:
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    outputs = {mode: scratch / f"snapshot-{mode}" for mode in MODES}
    for mode, outdir in outputs.items():
        cmd = [str(BIN / "python"), "-c", SYNTH_SNAPSHOT, str(source), str(outdir)]
        timed(cmd, child_env(mode))
    return outputs


def differences(left: Path, right: Path) -> list[str]:
    """Relative paths whose bytes differ, or that exist on one side only."""
    left_files = {p.relative_to(left) for p in left.rglob("*") if p.is_file()}
    right_files = {p.relative_to(right) for p in right.rglob("*") if p.is_file()}
    changed = [
        str(rel)
        for rel in sorted(left_files & right_files)
        if not filecmp.cmp(left / rel, right / rel, shallow=False)
    ]
    return changed + [f"only on one side: {rel}" for rel in sorted(left_files ^ right_files)]


def measure(repeat: int, scratch: Path) -> dict[str, Timings]:
    """Modes interleaved within each repetition, so background load hits both alike."""
    results = {mode: Timings() for mode in MODES}
    for mode in MODES:  # untimed: fills jsii's package cache on a fresh machine
        timed(IMPORT_SEAM, child_env(mode))
    for run in range(repeat):
        for mode, timings in results.items():
            timings.imports.append(timed(IMPORT_SEAM, child_env(mode))[0])
            outdir = scratch / f"{mode}-{run}"
            timings.synths.append(timed(synth_command(outdir), child_env(mode))[0])
    return results


def report(results: dict[str, Timings], repeat: int) -> None:
    print(f"bench_synth: median wall seconds of {repeat} fresh processes per figure")
    print(f"{'mode':<8}{'import':>9}{'synth':>9}{'synth/import':>14}")
    medians = {}
    for mode, t in results.items():
        medians[mode] = (statistics.median(t.imports), statistics.median(t.synths))
        imp, syn = medians[mode]
        print(f"{mode:<8}{imp:>9.2f}{syn:>9.2f}{syn / imp:>14.2f}")
    (lazy_import, lazy_synth), (eager_import, eager_synth) = medians["lazy"], medians["eager"]
    print(
        f"eager/lazy: import {eager_import / lazy_import:.1f}x, "
        f"synth {eager_synth / lazy_synth:.1f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        scratch = Path(tmp)
        results = measure(args.repeat, scratch)
        report(results, args.repeat)
        print("where one import's time goes (seconds, one run each):")
        for mode in MODES:
            phases = breakdown(mode)
            print(f"  {mode}: " + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()))
        outputs = synthesize_snapshot(scratch)
        changed = differences(outputs["lazy"], outputs["eager"])
        files = sum(1 for p in outputs["lazy"].rglob("*") if p.is_file())
        stacks = len(list(outputs["lazy"].rglob("cdk.tf.json")))
    if changed:
        print("synth output differs between the modes:\n  " + "\n  ".join(changed))
        return 1
    print(f"synth output byte-identical between the modes: {files} files, {stacks} cdk.tf.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
