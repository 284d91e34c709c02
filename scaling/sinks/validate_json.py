"""validate.json: the whole validation result, the one file every other output derives from.

The report reads it back (so a report can be drawn from recorded results), and so does
--baseline. Schema: ValidateResult.to_dict() (scaling/collector/validate/verdicts.py):
status, exit_code, counts, thresholds with sources, nodes, verdicts (check, verdict, scope,
node, gpu, uuid, peer, code, value, unit, threshold, rule, evidence, details, rounds),
localization (steps, findings, tests, rounds, wall time) and baseline.
"""

from __future__ import annotations

import json
from pathlib import Path

from scaling.collector.validate.verdicts import ValidateResult
from scaling.rundir import write_atomic

VALIDATE_JSON = "validate.json"


def write(result: ValidateResult, run_dir: Path) -> Path:
    text = json.dumps(result.to_dict(), indent=1, allow_nan=False) + "\n"
    return write_atomic(Path(run_dir) / VALIDATE_JSON, text)


def read(path: str | Path) -> ValidateResult:
    """A ValidateResult from validate.json, or from the run directory holding it."""
    p = Path(path)
    if p.is_dir():
        p = p / VALIDATE_JSON
    return ValidateResult.from_dict(json.loads(p.read_text(encoding="utf-8")))
