"""`scaling report`, `scaling compare` and `scaling runs`: read run directories, never measure.

Each parses, calls scaling.api, prints and sets the exit code. Nothing here imports torch or
Ray, and pandas only when a command runs: `--help` answers at once.
"""

from __future__ import annotations

import click

from scaling.cli.common import bad_input, console, echo_json, echo_warnings, schema_option
from scaling.collector.coverage import MIN_MATCHED_PCT
from scaling.config.schema import RunConfig


@click.command()
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--json", "as_json", is_flag=True, help="Print paths, headline and warnings as JSON.")
def report(run_dir: str, as_json: bool) -> int:
    """Write report.md and a self-contained report.html into RUN_DIR.

    The report has a headline (scaling efficiency at the largest world size, all_reduce busbw
    against the link ceiling, verdicts and warnings), the environment, plots with the tables
    behind them. The collector first rewrites summary.csv / training.csv (+ .parquet when
    pyarrow is installed) from the samples. A run that failed or was interrupted gets a report
    of what it measured, marked partial. `scaling run` writes the report itself when it ends.

    \b
    Examples:
      scaling report runs/20260101T120000Z-1a2b3c
      scaling report runs/20260101T120000Z-1a2b3c --json | jq .headline
    """
    from scaling import api
    from scaling.collector.run import NotARunDir

    try:
        summary = api.report(run_dir)
    except NotARunDir as e:
        raise bad_input(e) from None
    if summary.report is None:  # the tables are written; the report is what was asked for
        raise click.ClickException(f"report not written: {summary.report_error}")
    from scaling.report.predict import problem

    run = summary.run
    echo_warnings(run.warnings + [w for w in [problem(run.path)] if w])
    if as_json:
        echo_json(summary.to_dict())
        return 0
    if run.partial:
        click.echo(
            f"partial run ({run.partial_reason}): the report shows what was measured", err=True
        )
    click.echo(str(summary.report.markdown))
    click.echo(str(summary.report.html))
    return 0


@click.command()
@click.argument("base", metavar="BASE")
@click.argument("new", metavar="NEW")
@click.option(
    "--threshold",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    metavar="PCT",
    help="A real change must also be worse than this % to be a regression.",
)
@click.option(
    "--confidence",
    type=click.FloatRange(min=0.5, max=1.0, min_open=False, max_open=True),
    default=0.95,
    show_default=True,
    metavar="C",
    help="Confidence over all points at once: each needs p < (1 - C) / points to be real.",
)
@click.option(
    "--normalize",
    is_flag=True,
    help="Judge each point relative to its run's 1-rank reference (latency floor, 1-rank step).",
)
@click.option(
    "--min-matched",
    type=click.FloatRange(min=0, max=100),
    default=MIN_MATCHED_PCT,
    show_default=True,
    metavar="PCT",
    help="Exit 2 when fewer than PCT % of BASE's points are found in NEW (none: always).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(
    base: str,
    new: str,
    threshold: float,
    confidence: float,
    normalize: bool,
    min_matched: float,
    as_json: bool,
) -> int:
    """Compare run NEW against run BASE point by point; exit 1 when a regression remains.

    Points match on op, dtype, world size and message size (collectives) and on workload,
    world size, preset, precision and batch (training). Each point's rounds (scaling run
    --repeats; per round, the 25th percentile of the slowest rank's times) are judged with a
    Mann-Whitney U test: a point regresses only when the change is real AND slower than
    --threshold %. --confidence covers all the points at once, so each needs
    p < (1 - confidence) / points. Printed per point: the change, the p-value, a bootstrap
    interval of the change and the minimum detectable change (MDC) the rounds allow.

    \b
    Verdicts:
      regression / improvement  real, and beyond the threshold
      same                      no change beyond the threshold (or a real one within it)
      undecided                 too few rounds, or too spread to see a threshold-sized change
    When every class of points (a kind at a world size) moved alike, the 1-rank references
    included, that is one "environment shift" for the run and points are judged beyond it. The
    1-rank references never fail a comparison on their own. A training point that now fails
    and a collective with new wrong elements are regressions whatever the timings say. Runs
    with one round (older runs, --repeats 1) compare as undecided.

    \b
    Examples:
      scaling compare runs/baseline runs/new-cluster
      scaling compare runs/a runs/b --threshold 10 --json > diff.json
      scaling compare runs/a runs/b --normalize --confidence 0.99

    Nothing compared is not a pass: the same run on both sides (or a copy of it) is exit 2,
    and so is a comparison that found fewer than --min-matched % of BASE's points in NEW (or
    none), with a line naming the points that did not match, unless a matched point regressed
    (exit 1). Damaged sample lines are skipped with a warning on stderr naming them.

    Exit status: 0 no regression, 1 regression, 2 bad input or too few points matched.
    """
    from scaling import api
    from scaling.collector.coverage import NothingToCompare, shortfall
    from scaling.collector.run import NotARunDir

    damage: list[str] = []
    try:
        result = api.compare(base, new, threshold, confidence, normalize, damage)
    except (NotARunDir, NothingToCompare) as e:
        raise bad_input(e) from None
    echo_warnings(damage)
    if as_json:
        echo_json(result.to_dict())
    else:
        from scaling.cli.compare_output import print_comparison

        print_comparison(result, console())
    short = shortfall(len(result.points), result.only_base, result.only_new, min_matched)
    if len(result.regressions):  # a regression measured stands, however few points matched
        if short:
            click.echo(f"warning: incomplete comparison: {short}", err=True)
        return 1
    if short:
        click.echo(f"Error: incomplete comparison: {short}", err=True)
        return 2
    return 0


@click.command()
@schema_option(RunConfig, "runs_dir", "--runs-dir", "runs_dir", metavar="DIR")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def runs(runs_dir: str | None, as_json: bool) -> int:
    """List past runs, newest first, with status, workloads, world sizes and headline figures.

    Headline figures come from each run's summary.csv / training.csv (the collector's tables),
    or from its samples when a run ended before writing them.

    \b
    Examples:
      scaling runs
      scaling runs --runs-dir /shared/scaling-runs --json
    """
    from scaling import api
    from scaling.collector.run import NotARunDir
    from scaling.config.fields import field_default

    root = runs_dir or field_default(RunConfig, "runs_dir")
    skipped: list[str] = []
    try:
        listed = [
            {**p.to_dict(), "headline_text": headline_lines(p.headline)}
            for p in api.runs(root, skipped)
        ]
    except NotARunDir as e:
        raise bad_input(e) from None
    for line in skipped:
        click.echo(f"warning: {line}", err=True)
    if as_json:
        echo_json(listed)
        return 0
    if not listed:
        click.echo(f"no runs in {root}")
        return 0
    _print_runs(listed)
    return 0


def _print_runs(listed: list[dict]) -> None:
    from rich.table import Table

    t = Table(header_style="bold")
    for col in ("run", "started", "status", "workloads", "world sizes", "headline"):
        t.add_column(col)
    for e in listed:
        status = e["status"] + (" (partial)" if e["partial"] else "")
        t.add_row(
            e["run"],
            (e["started"] or "?")[:16].replace("T", " "),
            status,
            ", ".join(e["workloads"]),
            ", ".join(map(str, e["world_sizes"])),
            "\n".join(e["headline_text"]) or "–",
        )
    console().print(t)


def headline_lines(h) -> list[str]:
    from scaling import format as f

    lines = []
    for e in h.efficiency:
        if e["world_size"] > 1:
            lines.append(f"{e['workload']} eff {f.pct(e['efficiency'], 0)} @{e['world_size']}")
    b = h.busbw
    if b and b["busbw_gbps"] is not None:
        ratio = f" ({f.pct(b['ratio'], 0)} of ceiling)" if b["ratio"] is not None else ""
        lines.append(
            f"all_reduce {f.num(b['busbw_gbps'], 2)} GB/s @{b['world_size']}×"
            f"{f.size(b['size_bytes'])}{ratio}"
        )
    return lines
