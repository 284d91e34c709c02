"""What `api.validate` does after measuring: judge the records, compare with a baseline, and
write every sink (validate.json, validate.junit.xml, validate.prom, bad_nodes.txt).

    result, outputs, drain = conclude(run_dir, records, cfg, status, error)
"""

from __future__ import annotations

from pathlib import Path

from scaling.validate.placing import read_baseline


def conclude(run_dir: Path, records: list[dict], cfg, status: str, error: str | None):
    """Judge the records, compare with the baseline, write every sink; (result, outputs, the
    drain lines). The report is written after it (scaling/session.write_report)."""
    from scaling.collector.validate.assemble import assemble
    from scaling.collector.validate.baseline import against_baseline, paired
    from scaling.collector.validate.verdicts import missing
    from scaling.rundir import utc_now
    from scaling.sinks import drain, write_validation

    result = assemble(records, cfg.validate, created=utc_now())
    if status != "ok":  # the stages stopped early: what was not measured must not pass
        result.verdicts.append(
            missing(dict(check="validate", scope="group"), f"the validation stopped early: {error}")
        )
        result.notes.append(f"the validation stopped early: {error}")
    if cfg.validate.baseline:
        from functools import partial

        from scaling.collector.judge import judge

        base = read_baseline(cfg.validate.baseline)
        pct, family = cfg.validate.baseline_threshold_pct, len(paired(result, base))
        cmp = against_baseline(result, base, partial(judge, threshold_pct=pct, family=family))
        result.verdicts += cmp.verdicts
        result.baseline = cmp.summary(cfg.validate.baseline) | {
            "judge": f"scaling.collector.judge: threshold {pct:g}%, {family} figures judged together"
        }
    outputs = write_validation(result, run_dir)
    return result, outputs, drain.commands(result)
