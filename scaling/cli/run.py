"""`scaling run`: parse the flags, call scaling.api.run, print the tables, set the exit code.

Every flag is a schema field (`FLAGS`): its help and default come from the field's
declaration, and its value goes to the config loader under the field's key, so a flag, its
TOML key and its documentation cannot drift apart.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import click

from scaling.cli.common import BadInput, bad_input, console, report_outcome, schema_option
from scaling.config.fields import field_default
from scaling.config.schema import ClusterConfig, RunConfig, sections


@dataclass(frozen=True)
class Flag:
    """A command-line flag for config keys: `--name` sets `keys` (dotted schema keys)."""

    decls: tuple[str, ...]
    keys: tuple[str, ...]
    metavar: str | None = None
    kind: str = "value"
    """value (a string the loader parses), multiple (repeatable), switch (--x/--no-x), flag."""

    @property
    def dest(self) -> str:
        return self.keys[0].replace(".", "__")


def _batch_keys() -> tuple[str, ...]:
    """--batch sets the per-rank batch of every workload whose section has one."""
    return tuple(
        f"{name}.batch" for name, cls in sections().items() if "batch" in cls.__dataclass_fields__
    )


FLAGS = (
    Flag(("--gpus",), ("gpus",), "N,N,.."),
    Flag(("--workloads",), ("workloads",), "LIST"),
    Flag(("--ops",), ("collectives.ops",), "LIST"),
    Flag(("--min-bytes", "-b"), ("collectives.min_bytes",), "SIZE"),
    Flag(("--max-bytes", "-e"), ("collectives.max_bytes",), "SIZE"),
    Flag(("--factor", "-f"), ("collectives.factor",), "F"),
    Flag(("--dtype", "-d"), ("collectives.dtypes",), "LIST"),
    Flag(("--warmup", "-w"), ("collectives.warmup",), "N"),
    Flag(("--iters", "-n"), ("collectives.iters",), "N"),
    Flag(("--timing",), ("collectives.timing",), "MODE"),
    Flag(("--check/--no-check",), ("collectives.check",), kind="switch"),
    Flag(("--rank-samples",), ("collectives.rank_samples",), "MODE"),
    Flag(("--scaling",), ("training.scaling",), "MODE"),
    Flag(("--precision",), ("training.precision",), "P"),
    Flag(("--batch",), _batch_keys(), "N"),
    Flag(("--strategy",), ("training.strategy",), "S"),
    Flag(
        ("--reshard-after-forward/--no-reshard-after-forward",),
        ("training.reshard_after_forward",),
        kind="switch",
    ),
    Flag(("--activation-checkpointing",), ("training.activation_checkpointing",), "N"),
    Flag(("--compile",), ("training.compile",), kind="flag"),
    Flag(("--device",), ("cluster.device",), "DEV"),
    Flag(("--address",), ("cluster.address",), "ADDR"),
    Flag(("--placement",), ("cluster.placement",), "MODE"),
    Flag(("--gpus-per-node",), ("cluster.gpus_per_node",), "N"),
    Flag(("--timeout",), ("cluster.timeout_s",), "SECONDS"),
    Flag(("--env",), ("cluster.env",), "NAME=VALUE", kind="multiple"),
    Flag(("--repeats", "-r"), ("repeats",), "R"),
    Flag(("--out",), ("out",), "DIR"),
    Flag(("--runs-dir",), ("runs_dir",), "DIR"),
    Flag(("--strict",), ("cluster.strict",), kind="flag"),
)


PLACING_FLAGS = (
    Flag(("--address",), ("cluster.address",), "ADDR"),
    Flag(("--device",), ("cluster.device",), "DEV"),
    Flag(("--gpus-per-node",), ("cluster.gpus_per_node",), "N"),
    Flag(("--timeout",), ("cluster.timeout_s",), "SECONDS"),
    Flag(("--env",), ("cluster.env",), "NAME=VALUE", kind="multiple"),
    Flag(("--out",), ("out",), "DIR"),
    Flag(("--runs-dir",), ("runs_dir",), "DIR"),
)
"""Where the ranks go and where the run directory goes: the flags of every command that places
ranks besides `run` (validate, tune), which declare only their own flags before these."""


def field_for_key(key: str) -> tuple[type, str]:
    """The section dataclass and field name of a dotted key."""
    *section, name = key.split(".")
    if not section:
        return RunConfig, name
    return (ClusterConfig if section == ["cluster"] else sections()[section[0]]), name


def _option(flag: Flag):
    cls, name = field_for_key(flag.keys[0])
    kw = {"metavar": flag.metavar} if flag.metavar else {}
    if flag.kind == "multiple":
        kw.update(multiple=True, default=())
    if flag.kind == "flag":
        kw.update(is_flag=True, shown=None)  # off unless given: no default to show
    if flag.kind == "switch":  # --check/--no-check: the default reads as the side that is on
        on, off = flag.decls[0].split("/")
        kw["shown"] = (on if field_default(cls, name) else off).removeprefix("--")
    also = f"sets {', '.join(flag.keys)}" if flag.keys[1:] else None
    return schema_option(cls, name, *flag.decls, flag.dest, also=also, **kw)


def overrides(values: dict, flags: tuple[Flag, ...] = FLAGS) -> dict:
    """Flag values -> dotted config keys; None (and an empty --env) mean 'not given'."""
    out = {}
    for flag in flags:
        value = values.get(flag.dest)
        if flag.kind == "multiple":
            value = list(value) or None
        out.update(dict.fromkeys(flag.keys, value))
    return out


def with_flags(f, flags: tuple[Flag, ...] = FLAGS):
    for flag in reversed(flags):
        f = _option(flag)(f)
    return f


@click.command()
@click.option(
    "--config",
    "config_path",
    default=None,
    metavar="FILE",
    help="TOML config (see configs/). CLI flags override it.",
)
@with_flags
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON document on stdout, whatever the outcome (all else goes to stderr).",
)
def run(config_path, as_json, **flags) -> int:
    """Sweep world sizes: collectives and DDP/FSDP2 training steps on Ray-launched torch.distributed groups.

    One Ray actor per rank is placed once and reused for every world size; each
    world size forms a fresh process group (NCCL on GPUs, gloo on CPU). Every
    rank's time of every iteration is kept in samples.jsonl; an iteration's time
    is the slowest rank's. Bandwidths follow nccl-tests: algbw = S/t,
    busbw = algbw x factor (all_reduce 2(n-1)/n); busbw is n/a at one rank.
    Training (resnet50, transformer; synthetic data) gives step time, throughput,
    scaling efficiency against 1 rank, exposed comm, overlap and MFU per world size,
    and flags stragglers and ranks whose parameters diverge. Model sizes follow the
    device (presets, see configs/); the rest is set in the TOML file. Every point is
    measured in --repeats rounds, interleaved across the points of a world size, which
    `scaling compare` judges changes with.

    \b
    Examples:
      scaling run --gpus 1,2                        # CPU ranks with gloo when no GPU
      scaling run --gpus 1,2 --repeats 1            # one round: quicker, not comparable
      scaling run --gpus 1,2,4,8 --ops all_reduce,all_gather -b 8 -e 128M
      scaling run --gpus 8 --timing pipelined -d bfloat16 --json > result.json
      scaling run --gpus 1,2,4,8 --workloads resnet50 --precision bf16 --scaling strong
      scaling run --gpus 8 --workloads transformer --strategy fsdp2 --activation-checkpointing 2
      scaling run --address auto --gpus 8,16 --placement pack --env NCCL_DEBUG=INFO

    Exit status: 0 ok, 1 failed run, wrong results or diverged parameters, 2 bad input,
    130 interrupted (Ctrl-C), 143 terminated (SIGTERM), 129 hung up (SIGHUP).
    """
    from scaling.cli.json_stream import JsonStdout

    with JsonStdout(as_json) as stream:
        return _run(config_path, flags, stream)


def _run(config_path, flags, stream) -> int:
    from scaling import api, interrupts
    from scaling.config import ConfigError, load_config

    try:
        cfg = load_config(config_path, overrides(flags))
    except ConfigError as e:
        raise bad_input(e) from None
    out = console(sys.stderr if stream.enabled else sys.stdout)
    err = console(sys.stderr)
    try:
        result = _measure(api, cfg, err)
    except KeyboardInterrupt as e:  # while Ray started or ranks were placed: nothing measured
        why = f"{interrupts.reason(e)} before measuring: nothing was recorded"
        err.print(f"{why} (Ray and the ranks this run started are stopped)")
        stream.emit({"status": "interrupted", "error": why, "run_dir": None})
        return interrupts.exit_code(e)
    if result.summary is None:
        kept = f"samples are kept in {result.path}; retry with: scaling report {result.path}"
        if result.interrupt_code:
            err.print(f"{result.summary_error}: measuring ended {result.status}; {kept}")
        else:
            err.print(f"[red]could not summarize the run:[/] {result.summary_error}")
            err.print(kept)
        stream.emit(result.document)
        return result.exit_code
    return _finish(result, stream, out, err)


def _measure(api, cfg, err):
    """api.run with a progress display; refusals before anything ran become one-line errors."""
    from scaling.cli.progress import RunProgress
    from scaling.cluster.connect import ClusterError
    from scaling.cluster.gang import GangError
    from scaling.config import ConfigError
    from scaling.sweep import NodesDiffer

    try:
        return api.run(cfg, RunProgress(err))
    except (ConfigError, ClusterError) as e:
        raise BadInput(str(e)) from None
    except NodesDiffer as e:
        raise click.ClickException(f"nodes differ: {e}") from None
    except GangError as e:  # ranks failed to start: not bad input, but no traceback either
        raise click.ClickException(f"could not start the ranks: {e}") from None


def _finish(result, stream, out, err) -> int:
    """Print what the collector computed and the report's place; the exit status."""
    from scaling.cli.output import collectives_tables, training_tables

    run = result.run
    for w in run.warnings:
        print(f"warning: {w}", file=sys.stderr)
    collectives_tables(run.collectives, out)
    training_tables(run.training, out, run.manifest.get("device"))
    report_outcome(result.summary, err)
    stream.emit(result.document)
    err.print(f"status: {result.status}  ·  run directory: {result.path}")
    if not result.interrupt_code:  # after measuring, or while cleaning up: the record is whole
        for what, detail in result.failures():
            err.print(f"[red]{what}:[/] {detail}")
    return result.exit_code
