"""Predict, CLI layer (report/predict.py draws it): `scaling predict` extends a run to more GPUs.

`scaling predict`: from a run at a few world sizes, step time and efficiency at many.

Reads a run directory only: no torch, no ray (a test checks).
"""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from scaling.cli.common import bad_input, console, echo_json, echo_warnings
from scaling.collector.predict import whatif


@click.command()
@click.argument("run_dir", metavar="RUN_DIR")
@click.option(
    "--gpus",
    default="16,64,256,1024",
    show_default=True,
    metavar="N,N,..",
    help="World sizes to predict (ranks).",
)
@click.option(
    "--gpus-per-node",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Ranks per node at the predicted sizes. Unset: the run's shape.",
)
@click.option(
    "--what-if",
    "what_if",
    multiple=True,
    metavar="KEY=VALUE",
    help=f"Re-predict with one term replaced (repeatable): {whatif.help_text()}.",
)
@click.option(
    "--bootstrap",
    "reps",
    type=click.IntRange(min=0, max=5000),
    default=200,
    show_default=True,
    metavar="N",
    help="Bootstrap replicates for the intervals (0: none).",
)
@click.option("--no-report", is_flag=True, help="Write predict.json only; leave the report as is.")
@click.option("--json", "as_json", is_flag=True, help="Print predict.json on stdout.")
def predict(run_dir, gpus, gpus_per_node, what_if, reps, no_report, as_json) -> int:
    """Predict step time, throughput and efficiency at world sizes the run did not measure.

    Fits an alpha-beta (Hockney) model per collective, dtype and span (intra-/inter-node):
    time(S, n) = alpha(n) + S·c(n)/B, with a change-point in S where the data demands one and
    alpha(n) linear (ring) or logarithmic (tree), whichever the measured world sizes support.
    A training step is compute (t_local; for CPU ranks on one host, scaled by their share of
    its cores) plus DDP's recorded buckets through the all_reduce model, exposed as much as
    the run measured. Every fit is checked by holding out the
    largest measured world size; too few world sizes read "unvalidated". Intervals are 90%
    bootstrap intervals over the measured iterations.

    Writes predict.json into RUN_DIR and rewrites its report with a prediction section.

    \b
    Examples:
      scaling predict runs/20260101T120000Z-1a2b3c --gpus 16,64,256,1024
      scaling predict runs/X --gpus 64,512 --gpus-per-node 8 --what-if link=50GB/s
      scaling predict runs/X --what-if compute=0.5x --json | jq .training[0].crossings
    """
    from scaling.cli import BadInput
    from scaling.collector.predict import NothingToFit, predict_run
    from scaling.config.units import parse_world_sizes
    from scaling.sinks.predict_json import write_prediction

    try:
        targets = parse_world_sizes(gpus)
    except ValueError as e:
        raise BadInput(f"--gpus: {e}") from None
    try:
        replaced = whatif.parse_what_if(what_if)
    except ValueError as e:
        raise BadInput(str(e)) from None
    from scaling import api
    from scaling.collector.loaded_run import NotARunDir

    try:
        run = api.load(run_dir)
    except NotARunDir as e:
        raise bad_input(e) from None
    echo_warnings(run.damage)
    try:
        doc = predict_run(run, targets, gpus_per_node, replaced, reps=reps)
    except NothingToFit as e:
        raise BadInput(str(e)) from None
    from scaling.collector.predict.startup_law import predict_startup

    doc["startup"] = predict_startup(run.startup, targets)
    from scaling.rundir import RunDirError

    try:
        path = write_prediction(run.path, doc)
    except RunDirError as e:  # a full disk or a read-only run directory: one line, exit 1
        raise click.ClickException(str(e)) from None
    report = None if no_report else _rewrite_report(run)
    if as_json:
        echo_json(doc)
        return 0
    _print(doc)
    click.echo(f"predict.json: {path}")
    if report:
        click.echo(f"report: {report}")
    return 0


def _rewrite_report(run) -> str | None:
    """The report with its prediction section; a failure is a warning (predict.json is written)."""
    from scaling.report import write_report

    try:
        return str(write_report(run).html)
    except Exception as e:  # the prediction is on disk either way
        click.echo(f"warning: report not rewritten ({type(e).__name__}: {e})", err=True)
        return None


def _table(columns: list[str], rows: list[list[str]]) -> Table:
    t = Table(header_style="bold")
    for c in columns:
        t.add_column(escape(c), overflow="fold")
    for r in rows:
        t.add_row(*(escape(c) for c in r))
    return t


def _print(doc: dict) -> None:
    from scaling.report import predict as words

    out = console()
    out.print(f"[bold]Prediction for {escape(doc['run_dir'])}[/]")
    out.print(escape(words.CAVEAT), style="dim")
    out.print(f"ranks per node: {doc['gpus_per_node']} ({doc['gpus_per_node_source']})")
    for t in doc["training"]:
        out.print(f"\n[bold]{escape(t['label'])}[/]")
        for line in words.training_summary(t):
            out.print(f"  {escape(line)}")
        if "predictions" in t:
            out.print(_table(words.STEP_COLUMNS, words.step_rows(t["predictions"])))
            for line in words.crossing_text(t["crossings"]):
                out.print(f"  {escape(line)}")
        if t.get("what_if"):
            w = t["what_if"]
            out.print(f"  [bold]what if {escape(w['replaced'])}[/]")
            out.print(_table(words.STEP_COLUMNS, words.step_rows(w["predictions"])))
            for line in words.crossing_text(w["crossings"]) + w["notes"]:
                out.print(f"  {escape(line)}")
    from scaling.collector.predict.startup_law import lines as startup_lines

    for line in startup_lines(doc.get("startup")):
        out.print(escape(line))
    for c in doc["collectives"]:
        out.print(f"\n[bold]{c['op']} · {c['dtype']} · {c['timing']}[/]")
        for line in words.fit_lines(c):
            out.print(f"  {escape(line)}")
        out.print(_table(words.COLL_COLUMNS, words.collective_rows(c["predictions"])))
