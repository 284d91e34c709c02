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
    from scaling.collector.loaded_run import NotARunDir

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
@click.argument("runs", nargs=-1, metavar="[BASE NEW]")
@click.option(
    "--base",
    "bases",
    multiple=True,
    metavar="RUN",
    help="A base run; repeat for a run set (then give --new too, and no BASE NEW).",
)
@click.option(
    "--new", "news", multiple=True, metavar="RUN", help="A new run; repeat for a run set."
)
@schema_option(
    RunConfig,
    "runs_dir",
    "--runs-dir",
    "runs_dir",
    metavar="DIR",
    also="compare finds earlier runs like the base there (history)",
)
@click.option("--no-history", is_flag=True, help="Judge from the given runs alone.")
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
    help="Confidence over all classes (and over all points) at once.",
)
@click.option(
    "--accept-shift",
    is_flag=True,
    help="Everything moved together because the host changed: take that out and "
    "judge the classes beyond it.",
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
    runs: tuple[str, ...],
    bases: tuple[str, ...],
    news: tuple[str, ...],
    runs_dir: str | None,
    no_history: bool,
    threshold: float,
    confidence: float,
    accept_shift: bool,
    min_matched: float,
    as_json: bool,
) -> int:
    """Compare NEW runs against BASE runs; exit 1 when a regression is beyond the run-to-run
    spread.

    The run is the unit of evidence: rounds inside one run share the host's state, so the
    spread that decides is the spread between runs. Give several runs per side (--base R1
    --base R2 ... --new R4 ...), or one each (BASE NEW) with earlier runs of the same
    configuration in --runs-dir (history: same config, hosts, GPU models, versions). Each
    run's figure per point is the median of its rounds; a class (a kind at a world size) is
    judged by Student's t over the runs' class levels, the confidence covering every class at
    once, and each point the same way. With one run per side and no history every change is
    undecided: the output says how many runs would decide.

    \b
    Before any point, what differs in the manifests (torch, CUDA, NCCL, driver, Ray, GPU
    models, nodes, NCCL_* environment, config). When everything moved together, that is the
    first line: a regression when beyond the spread (run sets, history) or when the stack
    changed; otherwise "undecided". --accept-shift takes such a shift out.

    \b
    Verdicts:
      regression / improvement  beyond the between-run spread and the threshold
      same                      no change beyond the threshold that the runs could show
      undecided                 the runs cannot tell (too few, or too spread)
    A training point that now fails and a collective with new wrong elements are regressions
    whatever the timings say.

    \b
    Examples:
      scaling compare runs/baseline runs/new            # history from ./runs
      scaling compare --base runs/a1 --base runs/a2 --base runs/a3 \\
                      --new runs/b1 --new runs/b2 --new runs/b3
      scaling compare runs/a runs/b --threshold 10 --json > diff.json

    Nothing compared is not a pass: the same run on both sides (or a copy of it) is exit 2,
    and so is a comparison that found fewer than --min-matched % of BASE's points in NEW (or
    none), with a line naming the points that did not match, unless a matched point regressed
    (exit 1). Damaged sample lines are skipped with a warning on stderr naming them.

    Exit status: 0 no regression, 1 regression, 2 bad input or too few points matched.
    """
    from scaling import api
    from scaling.collector.coverage import NothingToCompare, shortfall
    from scaling.collector.loaded_run import NotARunDir
    from scaling.config.fields import field_default

    base_paths, new_paths = _sides(runs, bases, news)
    history = [] if no_history else [runs_dir or field_default(RunConfig, "runs_dir")]
    damage: list[str] = []
    try:
        result, skipped = api.compare(
            base_paths, new_paths, history, threshold, confidence, accept_shift, damage
        )
    except (NotARunDir, NothingToCompare) as e:
        raise bad_input(e) from None
    echo_warnings(damage)
    for line in skipped:
        click.echo(f"warning: {line}", err=True)
    if as_json:
        echo_json(result.to_dict())
    else:
        from scaling.cli.compare_output import print_comparison

        print_comparison(result, console())
    short = shortfall(len(result.points), result.only_base, result.only_new, min_matched,
                      result.untimed)  # fmt: skip
    if result.exit_code:  # a regression measured stands, however few points matched
        if short:
            click.echo(f"warning: incomplete comparison: {short}", err=True)
        return result.exit_code
    if short:
        click.echo(f"Error: incomplete comparison: {short}", err=True)
        return 2
    return 0


def _sides(runs, bases, news) -> tuple[list[str], list[str]]:
    """BASE NEW, or --base ... --new ...; the same run twice is bad input."""
    from pathlib import Path

    if runs and (bases or news):
        raise bad_input("give BASE NEW or --base/--new, not both")
    if runs:
        if len(runs) != 2:
            raise bad_input(f"expected BASE NEW (two runs), got {len(runs)}")
        bases, news = runs[:1], runs[1:]
    if not bases or not news:
        raise bad_input("compare needs a base and a new run: BASE NEW, or --base and --new")
    seen: dict = {}
    for side, paths in (("base", bases), ("new", news)):
        for p in paths:
            key = Path(p).resolve()
            if key in seen:
                raise bad_input(f"{p} is given twice ({seen[key]} and {side}): the same run compared "
                                "with itself says nothing")  # fmt: skip
            seen[key] = side
    return list(bases), list(news)


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
    from scaling.collector.loaded_run import NotARunDir
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
