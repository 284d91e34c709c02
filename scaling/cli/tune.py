"""Tune, CLI layer (as config/tune.py, report/tune.py): `scaling tune`, flags to exit code.

`scaling tune`: parse the flags, call scaling.api.tune, print the ranked table, exit 0/1/2.

Every flag is a schema field ([tune], [cluster] or the root), declared once with its help and
default, as `scaling run`'s are (cli/run.py's Flag).
"""

from __future__ import annotations

import sys

import click

from scaling.cli.common import bad_input, call_placing, console
from scaling.cli.run import PLACING_FLAGS, Flag, overrides, with_flags

FLAGS = (
    Flag(("--workload",), ("tune.workload",), "NAME"),
    Flag(("--gpus",), ("tune.world_size",), "N"),
    Flag(("--budget",), ("tune.budget",), "TIME"),
    Flag(("--target-memory",), ("tune.target_memory",), "SIZE"),
    Flag(("--dimensions",), ("tune.dimensions",), "LIST"),
    Flag(("--batches",), ("tune.batches",), "N,N,.."),
    Flag(("--precisions",), ("tune.precisions",), "LIST"),
    Flag(("--strategies",), ("tune.strategies",), "LIST"),
    Flag(("--threshold",), ("tune.threshold_pct",), "PCT"),
    *PLACING_FLAGS,
)


@click.command()
@click.option(
    "--config", "config_path", default=None, metavar="FILE",
    help="TOML config: [tune] (what to search), [training] and the workload's section (the "
         "base config), [cluster]. CLI flags override it.",
)  # fmt: skip
@lambda f: with_flags(f, FLAGS)
@click.option("--json", "as_json", is_flag=True, help="Print tune.json on stdout.")
def tune(config_path, as_json, **flags) -> int:
    """Find the fastest parallel strategy for a training workload on this cluster.

    Enumerates the [tune] dimensions (per-rank batch, precision, DDP bucket size and
    options, FSDP2 resharding, activation checkpointing, torch.compile, NCCL variables),
    prunes what the memory model says cannot fit (parameters, gradients and optimizer
    states by precision and sharding; activations measured at two batches), then runs
    successive halving on real training trials: every candidate a short trial, the better
    half longer ones, the finalists the full measurement. A candidate is better only beyond
    both trials' noise (scaling compare's test); finalists that cannot be separated tie.
    The winner is rerun at full length and that figure is reported.

    Writes tune.json, best.toml (for `scaling run --config`), nccl.env when an NCCL
    variable won beyond noise, samples.jsonl (every trial) and a report.

    \b
    Examples:
      scaling tune --workload resnet50 --gpus 2 --budget 3m
      scaling tune --workload transformer --gpus 8 --budget 20m --target-memory 80G
      scaling tune --config configs/tune.toml --address auto --json > tune.json
      scaling run --config runs/<tune dir>/best.toml      # run the winner

    Exit status: 0 a winner was found, 1 none (every trial failed) or the search failed,
    2 bad input, 130 interrupted (143 SIGTERM, 129 SIGHUP).
    """
    from scaling.cli.json_stream import JsonStdout

    with JsonStdout(as_json) as stream:
        return _tune(config_path, flags, stream)


def _tune(config_path, flags, stream) -> int:
    from scaling import api
    from scaling.cli.tune_output import TuneProgress, finish
    from scaling.config import ConfigError, load_config

    try:
        cfg = load_config(config_path, overrides(flags, FLAGS))
    except ConfigError as e:
        raise bad_input(e) from None
    out = console(sys.stderr if stream.enabled else sys.stdout)
    err = console(sys.stderr)
    outcome, code = call_placing(lambda: api.tune(cfg, TuneProgress(err)), err, "tuning")
    if outcome is None:
        stream.emit({"status": "interrupted", "error": "interrupted before tuning"})
        return code
    doc = outcome.document or {}
    stream.emit({"run_dir": str(outcome.path), "status": outcome.status, "error": outcome.error,
                 **doc, "outputs": [str(p) for p in outcome.outputs]})  # fmt: skip
    return finish(outcome, out, err)
