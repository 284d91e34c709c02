"""Where a validation result is written: one module per sink, none of them judges anything.

What is measured (check workloads), how it is judged (scaling.collector.validate) and where
it is written (here) are three places, as in torchtitan's metrics sinks. Only the driver
calls these, once per run, into the run directory:

    from scaling.sinks import write_validation
    paths = write_validation(result, run_dir)   # validate.json, .junit.xml, .prom, bad_nodes.txt
    print("\\n".join(drain.commands(result)))    # printed for the operator, never run

- `validate_json.py`  validate.json: every verdict, thresholds, localisation steps
- `junit.py`          validate.junit.xml: one testcase per check per node (Jenkins, GitLab)
- `prometheus.py`     validate.prom: Prometheus text format for node_exporter's textfile collector
- `drain.py`          bad_nodes.txt and the scontrol / kubectl lines to drain them
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
