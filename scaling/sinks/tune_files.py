"""tune.json, best.toml and nccl.env: what `scaling tune` leaves in its run directory.

    paths = write_tune(run_dir, doc, best_text)   # best_text None: no winner, no best.toml

Each file is written whole or not at all (scaling.rundir.write_atomic), and never over an
earlier tune's files: a run directory holds one tune.
"""

from __future__ import annotations

import json
from pathlib import Path

from scaling.collector.tune.result import BEST_TOML, NCCL_ENV, TUNE_JSON
from scaling.rundir import write_atomic


def write_tune(run_dir, doc: dict, best_text: str | None) -> list[Path]:
    """tune.json, best.toml and nccl.env (when recommended) into run_dir; never over an
    earlier tune's files. Returns the paths written."""
    out = Path(run_dir)
    files = {TUNE_JSON: json.dumps(doc, indent=1, allow_nan=False) + "\n"}
    if best_text is not None:
        files[BEST_TOML] = best_text
    if doc.get("nccl") and doc["nccl"]["lines"]:
        files[NCCL_ENV] = "\n".join(doc["nccl"]["lines"]) + "\n"
    taken = [name for name in files if (out / name).exists()]
    if taken:
        raise FileExistsError(f"{out} already holds {', '.join(taken)} from an earlier tune")
    out.mkdir(parents=True, exist_ok=True)
    return [write_atomic(out / name, text) for name, text in files.items()]
