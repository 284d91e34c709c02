"""Which Python packages the GPU kit carries, and whether the device has what scaling needs.

The device image has torch, numpy, pandas, click, rich... but no Ray (its package list is
benchmarks/gpu/device_packages.txt). This walks scaling's Requires-Dist and, through every
package the image lacks, theirs: markers evaluated for CPython 3.12 on x86-64 Linux, extras
left out. (The kit starts Ray in-process with include_dashboard=False, so ray[default]'s
dashboard and `ray start` packages are not needed there.) What the image lacks is carried,
at the version this venv runs, so the device runs what was tested here.

    python benchmarks/gpu/packages.py carry        # ray==2.60.0, jsonschema==... one a line
    python benchmarks/gpu/packages.py check        # on the device: all of it installed, versions ok?
    python benchmarks/gpu/packages.py source-hash  # sha256 of scaling/**/*.py (is the wheel current?)
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEVICE_LIST = HERE / "device_packages.txt"
# The device machine's interpreter (KINDS.md): what markers are evaluated against.
DEVICE_ENV = {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
}


def device_packages() -> set[str]:
    lines = DEVICE_LIST.read_text().splitlines()
    return {canonicalize_name(s) for s in (x.strip() for x in lines) if s and s[0] != "#"}


def requirement_edges(root: str, present: set[str], env: dict) -> list[tuple[str, Requirement]]:
    """(dependent, requirement) pairs from `root` down through every package not in `present`."""
    edges, seen, queue = [], {canonicalize_name(root)}, [root]
    while queue:
        dist = queue.pop()
        for text in metadata.requires(dist) or []:
            req = Requirement(text)
            if req.marker and not req.marker.evaluate({**env, "extra": ""}):
                continue
            edges.append((dist, req))
            name = canonicalize_name(req.name)
            if name not in seen and name not in present:
                seen.add(name)
                queue.append(name)
    return edges


def carry() -> list[str]:
    """name==version of each package scaling needs that the device image lacks."""
    env = {**default_environment(), **DEVICE_ENV}
    present = device_packages()
    names = sorted(
        {canonicalize_name(r.name) for _, r in requirement_edges("scaling", present, env)} - present
    )
    out = []
    for name in names:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            sys.exit(
                f"packages.py: {name} is needed but not installed in this venv: pip install {name}"
            )
    return out


def check() -> list[str]:
    """Problems with what scaling and the carried packages require here: missing, or a version
    the dependent refuses. The image's own packages' needs are the image's business."""
    problems = []
    for dependent, req in requirement_edges("scaling", device_packages(), default_environment()):
        try:
            found = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{dependent} needs {req}: not installed")
            continue
        if req.specifier and not req.specifier.contains(Version(found), prereleases=True):
            problems.append(f"{dependent} needs {req}: found {found}")
    return sorted(set(problems))


def source_hash(root: Path = ROOT) -> str:
    """sha256 over scaling/**/*.py, path and content: equal when the wheel holds this code."""
    h = hashlib.sha256()
    for path in sorted((root / "scaling").rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("carry", "check", "source-hash"))
    args = ap.parse_args()
    if args.what == "carry":
        print("\n".join(carry()))
    elif args.what == "source-hash":
        print(source_hash())
    else:
        problems = check()
        for p in problems:
            print(p)
        if problems:
            sys.exit(1)
        versions = ", ".join(
            f"{n} {metadata.version(n)}" for n in ("scaling", "ray", "torch", "jsonschema")
        )
        print(f"every requirement of scaling is installed and satisfied ({versions})")


if __name__ == "__main__":
    main()
