"""Validate, CLI layer (as config/validate.py, report/validate.py): `scaling validate`, exit 0/1/2.

`scaling validate`: parse the flags, call scaling.api.validate, print the verdicts, exit 0/1/2.

Every flag is a schema field ([validate], [cluster] or the root), declared once with its help
and default, as `scaling run`'s are (cli/run.py's Flag).
"""

from __future__ import annotations

import sys

import click

from scaling.cli.common import bad_input, call_placing, console
from scaling.cli.run import PLACING_FLAGS, Flag, overrides, with_flags

FLAGS = (
    Flag(("--gpus",), ("validate.gpus",), "N"),
    Flag(("--level",), ("validate.level",), "LEVEL"),
    Flag(("--burn-minutes",), ("validate.burn_minutes",), "MIN"),
    Flag(("--storage",), ("validate.storage",), "PATH"),
    Flag(("--baseline",), ("validate.baseline",), "RUN_DIR"),
    *PLACING_FLAGS,
)


@click.command()
@click.option(
    "--config", "config_path", default=None, metavar="FILE",
    help="TOML config ([validate] thresholds and sizes, [cluster]). CLI flags override it.",
)  # fmt: skip
@lambda f: with_flags(f, FLAGS)
@click.option(
    "--json", "as_json", is_flag=True, help="Print validate.json (and the outputs) on stdout."
)
@click.option(
    "--judge", "judge_dir", default=None, metavar="RUN_DIR",
    help="Measure nothing: apply the rules to a recorded run (a validation, `scaling run`, or "
    "`scaling import nccl-tests`). Checks it never included are listed as not run.",
)  # fmt: skip
def validate(config_path, as_json, judge_dir, **flags) -> int:
    """Accept or reject a cluster: name the bad GPU, link or node, with the evidence.

    Runs on every rank at once: dense GEMM (bf16 on GPU, fp32 on CPU) against the fleet and
    the datasheet peak, device memory bandwidth, pinned H2D/D2H against the PCIe ceiling,
    a seeded matmul compared bit for bit across GPUs (silent data corruption), and NVML's
    clock-event reasons and temperature under that load; per node everything `scaling
    doctor` checks, PCIe ASPM and, with --storage, the read bandwidth of that path; each
    node's all_reduce against its link ceiling and (standard, long) its GPU-pair matrix;
    across nodes an all_reduce screen, then adaptive localisation of the bad nodes and links.

    Writes validate.json, validate.junit.xml, validate.prom, bad_nodes.txt and a report into
    the run directory, and prints (never runs) the scontrol/kubectl lines to drain the bad
    nodes. Thresholds, with their public sources, are the [validate] section.

    \b
    Examples:
      scaling validate --gpus 2 --level quick          # this machine (CPU ranks without GPUs)
      scaling validate --address auto --level standard # every GPU of a Ray cluster
      scaling validate --address auto --level long --burn-minutes 30 --storage /checkpoints
      scaling validate --address auto --baseline runs/known-good --json > verdicts.json
      scaling validate --judge runs/imported-nccl-tests   # rules only, nothing measured

    Exit status: 0 every check passed (WARN allowed), 1 a check FAILed or a measurement could
    not be taken, 2 bad input, 130 interrupted (143 SIGTERM, 129 SIGHUP).
    """
    from scaling.cli.json_stream import JsonStdout

    with JsonStdout(as_json) as stream:
        return _validate(config_path, judge_dir, flags, stream)


def _validate(config_path, judge_dir, flags, stream) -> int:
    from scaling import api
    from scaling.cli.validate_output import ValidateProgress, finish
    from scaling.config import ConfigError, load_config

    try:
        cfg = load_config(config_path, overrides(flags, FLAGS))
    except ConfigError as e:
        raise bad_input(e) from None
    out = console(sys.stderr if stream.enabled else sys.stdout)
    err = console(sys.stderr)
    if judge_dir is not None:
        outcome, code = _judge(judge_dir, cfg), None
    else:
        outcome, code = call_placing(
            lambda: api.validate(cfg, ValidateProgress(err)), err, "validating"
        )
    if outcome is None:  # refused or interrupted before placing: the reason is on stderr
        status = "refused" if code == 2 else "interrupted" if code and code > 128 else "failed"
        stream.emit({"status": status, "exit_code": code, "run_dir": None})
        return code
    stream.emit(outcome.document)
    return finish(outcome, out, err)


def _judge(run_dir: str, cfg):
    """--judge: no Ray, no torch; a run with nothing to judge is bad input (exit 2)."""
    from scaling.collector.loaded_run import NotARunDir
    from scaling.collector.validate.recorded import NothingToJudge
    from scaling.validate.rejudge import judge

    try:
        outcome = judge(run_dir, cfg)
    except (NotARunDir, NothingToJudge) as e:
        raise bad_input(e) from None
    return outcome
