"""Where results are written: one module per sink, none of them judges anything.

What is measured (workloads), how it is judged (scaling.collector) and where it is written
(here) are three places, as in torchtitan's metrics sinks. Every sink writes through the run
directory's atomic write (scaling.rundir.write_atomic): a reader (CI, node_exporter's textfile
collector) never sees half a file, and a failed write leaves no temporary behind. Only the
drivers call these, into the run directory:

    from scaling.sinks import write_validation
    paths = write_validation(result, run_dir)   # validate.json, .junit.xml, .prom, bad_nodes.txt
    print("\\n".join(drain.commands(result)))    # printed for the operator, never run

- `validate_json.py`  validate.json: every verdict, thresholds, localisation steps
- `junit.py`          validate.junit.xml: one testcase per check per node (Jenkins, GitLab)
- `prometheus.py`     validate.prom: Prometheus text format for node_exporter's textfile collector
- `drain.py`          bad_nodes.txt and the scontrol / kubectl lines to drain them
- `tables.py`         summary.csv, training.csv, checks.csv, startup.csv (+ .parquet)
- `tune_files.py`     tune.json, best.toml and nccl.env (`scaling tune`)
- `predict_json.py`   predict.json (`scaling predict`)
- `report_files.py`   report.md, report.html and report.md's figures (scaling.report renders them)
"""

from __future__ import annotations

from pathlib import Path

from scaling.collector.validate.verdicts import ValidateResult


def write_validation(result: ValidateResult, run_dir: str | Path) -> dict[str, Path]:
    """Every file sink into run_dir; returns sink name -> path."""
    from scaling.sinks import drain, junit, prometheus, validate_json

    out = Path(run_dir)
    return {
        "json": validate_json.write(result, out),
        "junit": junit.write(result, out),
        "prometheus": prometheus.write(result, out),
        "bad_nodes": drain.write_bad_nodes(result, out),
    }
