"""`scaling validate --judge RUN_DIR`: validate's rules on a recorded run; nothing is measured.

    from scaling.validate.rejudge import judge
    outcome = judge("runs/imported", cfg)     # a Validation; outcome.exit_code 0 or 1

The outputs are validate's own files (validate.json, validate.junit.xml, validate.prom,
bad_nodes.txt) and the report, written into RUN_DIR; or, when RUN_DIR already holds a
validate.json (a measured validation: its verdicts and report are kept), the files into
RUN_DIR/judged-<UTC time>/, without a report. No Ray, no torch.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from scaling.validate import Validation


def output_dir(run_dir: Path) -> Path:
    from scaling.sinks.validate_json import VALIDATE_JSON

    if not (run_dir / VALIDATE_JSON).exists():
        return run_dir
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = run_dir / f"judged-{stamp}"
    out.mkdir(exist_ok=False)
    return out


def judge(run_dir: str | Path, cfg) -> Validation:
    """Judge RUN_DIR with cfg.validate's thresholds. Raises NotARunDir / NothingToJudge
    (bad input) when there is nothing to judge."""
    from scaling.collector.loaded_run import NotARunDir
    from scaling.collector.validate.recorded import judge_run
    from scaling.rundir import MANIFEST, SAMPLES, utc_now
    from scaling.sinks import drain, write_validation

    path = Path(run_dir)
    if not path.is_dir() or not ((path / MANIFEST).exists() or (path / SAMPLES).exists()):
        raise NotARunDir(f"--judge {path}: not a run directory (no {MANIFEST} or {SAMPLES})")
    result = judge_run(path, cfg.validate, created=utc_now())
    out = output_dir(path)
    outputs = write_validation(result, out)
    outcome = Validation(out, "ok", result, outputs, drain.commands(result))
    if out == path:  # a run without a validation of its own: its report gains the verdicts
        from scaling.session import write_report

        outcome.report, outcome.report_error = write_report(path)
    else:
        outcome.report_error = (f"the recorded validation's own report stays; the verdicts "
                                f"judged now are in {out}")  # fmt: skip
    return outcome
