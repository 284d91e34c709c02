"""`scaling run`: sweep world sizes, stream samples to a run directory, summarize."""

from __future__ import annotations

import json
import math
import sys

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from scaling.cluster.connect import ClusterError, connect_ray, disconnect_ray
from scaling.cluster.gang import GangError
from scaling.config import ConfigError, load_config
from scaling.config.units import format_size
from scaling.rundir import RunDir, new_run_path


def _opt(*names, **kw):
    # Every value is validated by the config loader (one parser per key), so
    # options are plain strings here and errors read the same from CLI and TOML.
    return click.option(*names, default=None, **kw)


@click.command()
@_opt(
    "--gpus",
    metavar="N,N,..",
    help="World sizes to sweep, e.g. 1,2,4,8. On CPU these are ranks. [default: 1,2]",
)
@_opt(
    "--config",
    "config_path",
    metavar="FILE",
    help="TOML config (see configs/). CLI flags override it.",
)
@_opt(
    "--workloads",
    metavar="LIST",
    help="collectives, resnet50, transformer (comma list). [default: all three]",
)
@_opt(
    "--ops",
    metavar="LIST",
    help="Collectives: all_reduce, all_gather, reduce_scatter, broadcast, all_to_all, sendrecv. [default: all_reduce]",
)
@_opt(
    "--min-bytes",
    "-b",
    metavar="SIZE",
    help="Smallest message size S (K/M/G = KiB/MiB/GiB). [default: 1K]",
)
@_opt("--max-bytes", "-e", metavar="SIZE", help="Largest message size S. [default: 64M]")
@_opt("--factor", "-f", metavar="F", help="Size multiplier between points. [default: 2]")
@_opt(
    "--dtype",
    "-d",
    metavar="LIST",
    help="float32, bfloat16, float16 (comma list). [default: float32]",
)
@_opt("--warmup", "-w", metavar="N", help="Untimed iterations per point. [default: 5]")
@_opt("--iters", "-n", metavar="N", help="Timed iterations per point. [default: 20]")
@_opt(
    "--timing",
    metavar="MODE",
    help="blocking (barrier before each op) or pipelined (ops back to back, one sync). [default: blocking]",
)
@click.option(
    "--check/--no-check",
    default=None,
    help="Verify results exactly and count wrong elements. [default: check]",
)
@_opt(
    "--scaling",
    metavar="MODE",
    help="Training: weak (fixed per-rank batch) or strong (fixed global batch). [default: weak]",
)
@_opt(
    "--precision",
    metavar="P",
    help="Training: fp32, tf32, bf16, fp16 or auto (bf16 on GPU, fp32 on CPU). [default: auto]",
)
@_opt(
    "--batch",
    metavar="N",
    help="Training: per-rank batch of both models (strong: at the largest world size). "
    "[default: the preset's]",
)
@_opt(
    "--device",
    metavar="DEV",
    help="auto, cuda or cpu. auto: cuda if the Ray cluster has GPUs. [default: auto]",
)
@_opt(
    "--address",
    metavar="ADDR",
    help="Existing Ray cluster (auto or HOST:PORT); also $RAY_ADDRESS. [default: fresh local Ray]",
)
@_opt(
    "--placement",
    metavar="MODE",
    help="pack (few nodes) or spread (one rank per node). [default: pack]",
)
@_opt("--gpus-per-node", metavar="N", help="Ranks per node, to fix the multi-node shape.")
@_opt(
    "--timeout",
    metavar="SECONDS",
    help="Limit for placement, group init and each point. [default: 300]",
)
@click.option(
    "--env",
    "env",
    multiple=True,
    metavar="NAME=VALUE",
    help="Environment for every rank (repeatable), e.g. NCCL_DEBUG=INFO.",
)
@_opt(
    "--repeats",
    "-r",
    metavar="R",
    help="Rounds per point, interleaved across points: what compare judges noise with; "
    "1 for a quick look. [default: 8]",
)
@_opt("--out", metavar="DIR", help="Run directory. [default: runs/<UTC time>-<id>/]")
@_opt("--runs-dir", metavar="DIR", help="Parent of generated run directories. [default: runs]")
@click.option(
    "--strict",
    is_flag=True,
    default=None,
    help="Fail before measuring when nodes differ in torch/NCCL/CUDA/GPU model.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON result on stdout (tables go to stderr)."
)
def run(config_path, as_json, env, check, strict, **flags) -> int:
    """Sweep world sizes: collectives and DDP training steps on Ray-launched torch.distributed groups.

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
      scaling run --address auto --gpus 8,16 --placement pack --env NCCL_DEBUG=INFO

    Exit status: 0 ok, 1 failed run, wrong results or diverged parameters, 2 bad input,
    130 interrupted.
    """
    overrides = {
        "gpus": flags["gpus"],
        "workloads": flags["workloads"],
        "out": flags["out"],
        "runs_dir": flags["runs_dir"],
        "repeats": flags["repeats"],
        "cluster.address": flags["address"],
        "cluster.device": flags["device"],
        "cluster.placement": flags["placement"],
        "cluster.gpus_per_node": flags["gpus_per_node"],
        "cluster.timeout_s": flags["timeout"],
        "cluster.strict": strict,
        "cluster.env": list(env) or None,
        "collectives.ops": flags["ops"],
        "collectives.min_bytes": flags["min_bytes"],
        "collectives.max_bytes": flags["max_bytes"],
        "collectives.factor": flags["factor"],
        "collectives.dtypes": flags["dtype"],
        "collectives.warmup": flags["warmup"],
        "collectives.iters": flags["iters"],
        "collectives.timing": flags["timing"],
        "collectives.check": check,
        "training.scaling": flags["scaling"],
        "training.precision": flags["precision"],
        "resnet50.batch": flags["batch"],
        "transformer.batch": flags["batch"],
    }
    from scaling.cli import BadInput

    try:
        cfg = load_config(config_path, overrides)
    except ConfigError as e:
        raise BadInput(str(e)) from None

    out = _console(sys.stderr if as_json else sys.stdout)
    err = _console(sys.stderr)
    from scaling import sweep

    started = False
    try:
        started = connect_ray(cfg.cluster.address)
        prep = sweep.prepare(cfg)
    except (ConfigError, ClusterError) as e:
        disconnect_ray(started)
        raise BadInput(str(e)) from None
    except sweep.NodesDiffer as e:
        disconnect_ray(started)
        raise click.ClickException(f"nodes differ: {e}") from None
    except GangError as e:  # ranks failed to start: not bad input, but no traceback either
        disconnect_ray(started)
        raise click.ClickException(f"could not start the ranks: {e}") from None

    rundir = RunDir(cfg.out or new_run_path(cfg.runs_dir))
    for notice in prep.notices:
        err.print(notice)
    err.print(f"run directory: {rundir.path}")
    status = "failed"
    try:
        with _progress(err, sweep.count_points(cfg, prep.gang)) as advance:
            status = sweep.run(cfg, prep, rundir, on_point=advance, on_notice=err.print)
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        prep.gang.shutdown()
        disconnect_ray(started)
        rundir.close()

    # The collector is the one place samples become numbers: load once, then print,
    # write the tables (summary.csv, training.csv, parquet) and the report from that.
    try:
        run_data = _load_run(rundir)
    except Exception as e:  # the samples are on disk; say so rather than end in a traceback
        err.print(f"[red]could not summarize the run:[/] {type(e).__name__}: {e}")
        err.print(f"samples are kept in {rundir.path}; retry with: scaling report {rundir.path}")
        return 1
    summary = run_data.collectives
    from scaling.cli.output import collectives_tables
    from scaling.cli.report import report_after_run

    collectives_tables(summary, out)
    training = run_data.training
    from scaling.cli.output import training_tables

    training_tables(training, out, rundir.manifest.get("device"))
    report_paths = report_after_run(run_data, err)
    wrong = int(summary["wrong"].fillna(0).sum()) if not summary.empty else 0
    manifest = rundir.manifest
    if as_json:
        result = {**_json_result(rundir, manifest, summary), "report": report_paths}
        result["training"] = _json_rows(training)
        click.echo(json.dumps(result, default=str, allow_nan=False))
    err.print(f"status: {status}  ·  run directory: {rundir.path}")
    if status == "interrupted":
        return 130
    if status != "ok":
        err.print(f"[red]run failed:[/] {manifest.get('error')} (samples measured so far are kept)")
        return 1
    if wrong:
        err.print(f"[red]correctness check failed:[/] {wrong} wrong elements (see #wrong)")
        return 1
    diverged = training[training["consistent"].eq(False)] if not training.empty else training
    if not diverged.empty:
        where = ", ".join(f"{r.workload} at {r.world_size} ranks" for r in diverged.itertuples())
        err.print(f"[red]consistency check failed:[/] parameters differ across ranks ({where})")
        return 1
    return 0


def _console(file) -> Console:
    # Off a terminal (logs, CI, pipes) rich would wrap tables at 80 columns.
    probe = Console(file=file)
    return Console(file=file, highlight=False, width=None if probe.is_terminal else 140)


def _load_run(rundir: RunDir):
    """The run through the collector; unreadable sample lines are warnings, never fatal."""
    from scaling.collector.run import load_run

    run_data = load_run(rundir.path)
    for w in run_data.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return run_data


def _json_rows(table) -> list[dict]:
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in table.to_dict(orient="records")
    ]


def _json_result(rundir: RunDir, manifest: dict, summary) -> dict:
    rows = _json_rows(summary)
    return {
        "run_dir": str(rundir.path),
        "status": manifest.get("status"),
        "error": manifest.get("error"),
        "device": manifest.get("device"),
        "backend": manifest.get("backend"),
        "summary": rows,
    }


class _progress:
    """A progress bar on a terminal; a line per world size elsewhere (logs, CI)."""

    def __init__(self, console: Console, total: int):
        self.console, self.total, self.done, self.last_n = console, total, 0, None
        self.bar = None
        if console.is_terminal:
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self.task = self.bar.add_task("measuring", total=total)

    def __enter__(self):
        if self.bar:
            self.bar.__enter__()
        return self.advance

    def advance(self, point: dict) -> None:
        self.done += 1
        desc = f"{point.get('op', '')} {point['world_size']} ranks {format_size(point.get('size_bytes', 0))}"
        if "op" not in point:  # a training point
            desc = f"{point.get('workload', '')} {point['world_size']} ranks"
        if self.bar:
            self.bar.update(self.task, advance=1, description=desc)
        elif point["world_size"] != self.last_n:
            self.last_n = point["world_size"]
            self.console.print(
                f"world size {self.last_n}: measuring ({self.done}/{self.total} points)"
            )

    def __exit__(self, *exc):
        if self.bar:
            self.bar.__exit__(*exc)
        return False
