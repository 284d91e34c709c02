"""Earlier runs like the base: the history a single-run comparison takes its spread from.

    from scaling.collector.history import find_history
    earlier, skipped = find_history(base_run, ["runs"], exclude=[new_run.path])

A history run has the base's fingerprint (collector/stack.py: config, hosts, GPU models,
versions, NCCL environment), ended ok and is not a byte-identical copy of a compared run. It says how much identical runs differ on these
machines, which is what decides whether a change between two runs is beyond the host's own
run-to-run state.
"""

from __future__ import annotations

import json
from pathlib import Path

from scaling.collector.coverage import NothingToCompare, check_distinct
from scaling.collector.load import read_manifest
from scaling.collector.loaded_run import Run, load_run
from scaling.collector.stack import fingerprint
from scaling.rundir import MANIFEST


def _copy_of(path: Path, runs: list) -> bool:
    """A byte-identical copy of a compared run is no evidence of the spread between runs."""
    for run in runs:
        try:
            check_distinct(path, run)
        except NothingToCompare:
            return True
    return False


def find_history(
    base: Run, roots: list[str | Path], exclude: list[str | Path] = ()
) -> tuple[list[Run], list[str]]:
    """Complete runs under the roots with the base's fingerprint, oldest first; and one line
    per run that looked alike but could not be read."""
    want = fingerprint(base.manifest)
    skip = {Path(p).resolve() for p in [base.path, *exclude]}
    found, skipped, seen = [], [], set()
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.iterdir() if (p / MANIFEST).is_file()):
            key = path.resolve()
            if key in skip or key in seen:
                continue
            seen.add(key)
            try:
                manifest = read_manifest(path)
            except (OSError, json.JSONDecodeError, ValueError):
                continue  # not readable: not history (compare names its own runs' problems)
            if not isinstance(manifest, dict) or manifest.get("status") != "ok":
                continue
            if fingerprint(manifest) != want or _copy_of(path, [base.path, *exclude]):
                continue
            try:
                found.append(load_run(path))
            except Exception as e:  # one damaged run must not stop the comparison
                skipped.append(f"history run {path} not used: {type(e).__name__}: {e}")
    return found, skipped
