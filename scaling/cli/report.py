"""`scaling report`, `scaling compare` and `scaling runs`: read run directories, never measure."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click
import pandas as pd
from rich.console import Console
from rich.table import Table

from scaling.collector.headline import Headline, headline
from scaling.collector.load import read_manifest
from scaling.collector.run import NotARunDir, Run, load_run, partial_reason
from scaling.collector.tables import write_tables
from scaling.rundir import MANIFEST, SUMMARY, TRAINING


def _load(path: str) -> Run:
    from scaling.cli import BadInput

    try:
        return load_run(path)
    except NotARunDir as e:
        raise BadInput(str(e)) from None
    except json.JSONDecodeError as e:
        raise BadInput(f"{path}: {MANIFEST} is not valid JSON ({e.msg})") from None


def _console(file=None) -> Console:
    file = file or sys.stdout
    probe = Console(file=file)
    return Console(file=file, highlight=False, width=None if probe.is_terminal else 140)


def _echo_json(obj) -> None:
    click.echo(json.dumps(_json_safe(obj), default=str, allow_nan=False))


def _json_safe(obj):
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def write_and_describe(run: Run) -> dict:
    """Write the report files of a loaded run; what --json prints about them."""
    from scaling.report import write_report

    paths = write_report(run)
    return {
        "run_dir": str(run.path),
        "report_md": str(paths.markdown),
        "report_html": str(paths.html),
        "tables": [str(p) for p in paths.tables],
        "status": run.manifest.get("status"),
        "partial": run.partial,
        "partial_reason": run.partial_reason,
        "headline": run.headline.to_dict(),
        "warnings": run.warnings,
    }


def report_after_run(run: Run, err: Console) -> dict | None:
    """The end of `scaling run`: tables and report from the loaded run, and where they are.

    A report that cannot be written is a warning, never the run's failure: the samples and
    the tables are already on disk.
    """
    try:
        result = write_and_describe(run)
    except Exception as e:
        write_tables(run)
        err.print(f"[yellow]warning:[/] report not written ({type(e).__name__}: {e}); "
                  f"retry with: scaling report {run.path}")  # fmt: skip
        return None
    err.print(f"report: {result['report_html']}")
    return {k: result[k] for k in ("report_md", "report_html")}


@click.command()
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--json", "as_json", is_flag=True, help="Print paths, headline and warnings as JSON.")
def report(run_dir: str, as_json: bool) -> int:
    """Write report.md and a self-contained report.html into RUN_DIR.

    The report has a headline (scaling efficiency at the largest world size, all_reduce busbw
    against the link ceiling, verdicts and warnings), the environment, plots with the tables
    behind them, and summary.csv / training.csv (+ .parquet when pyarrow is installed) are
    rewritten from the samples. A run that failed or was interrupted gets a report of what it
    measured, marked partial. `scaling run` writes the report itself when it ends.

    \b
    Examples:
      scaling report runs/20260101T120000Z-1a2b3c
      scaling report runs/20260101T120000Z-1a2b3c --json | jq .headline
    """
    run = _load(run_dir)
    result = write_and_describe(run)
    for w in run.warnings:
        click.echo(f"warning: {w}", err=True)
    if as_json:
        _echo_json(result)
        return 0
    if run.partial:
        click.echo(
            f"partial run ({run.partial_reason}): the report shows what was measured", err=True
        )
    click.echo(result["report_md"])
    click.echo(result["report_html"])
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
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(
    base: str, new: str, threshold: float, confidence: float, normalize: bool, as_json: bool
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

    Exit status: 0 no regression, 1 regression, 2 bad input.
    """
    from scaling.collector.compare import compare as compare_runs

    result = compare_runs(_load(base), _load(new), threshold, confidence, normalize)
    if as_json:
        _echo_json(result.to_dict())
    else:
        from scaling.cli.compare_output import print_comparison

        print_comparison(result, _console())
    return 1 if len(result.regressions) else 0


@click.command()
@click.option(
    "--runs-dir",
    default="runs",
    show_default=True,
    metavar="DIR",
    help="Where `scaling run` puts run directories.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def runs(runs_dir: str, as_json: bool) -> int:
    """List past runs, newest first, with status, workloads, world sizes and headline figures.

    Headline figures come from each run's summary.csv / training.csv (the collector's tables),
    or from its samples when a run ended before writing them.

    \b
    Examples:
      scaling runs
      scaling runs --runs-dir /shared/scaling-runs --json
    """
    from scaling.cli import BadInput

    root = Path(runs_dir)
    if not root.is_dir():
        raise BadInput(f"{root}: no such runs directory")
    dirs = sorted(
        (p for p in root.iterdir() if (p / MANIFEST).exists() or (p / "samples.jsonl").exists()),
        key=lambda p: p.name,
        reverse=True,
    )
    listed = [_run_entry(p) for p in dirs]
    if as_json:
        _echo_json(listed)
        return 0
    if not listed:
        click.echo(f"no runs in {root}")
        return 0
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
    _console().print(t)
    return 0


def _run_entry(path: Path) -> dict:
    try:
        manifest = read_manifest(path)
    except json.JSONDecodeError:
        manifest = {}
    cfg = manifest.get("config") or {}
    h = _stored_headline(path, manifest)
    return {
        "run": path.name,
        "path": str(path),
        "started": manifest.get("started"),
        "status": manifest.get("status") or "unknown",
        "partial": partial_reason(manifest) is not None,
        "workloads": cfg.get("workloads") or [],
        "world_sizes": cfg.get("gpus") or [],
        "headline": h.to_dict(),
        "headline_text": headline_lines(h),
    }


def _stored_headline(path: Path, manifest: dict) -> Headline:
    """From the tables the collector wrote; from the samples when it never wrote them."""
    if (path / SUMMARY).exists():
        coll = pd.read_csv(path / SUMMARY)
        train = pd.read_csv(path / TRAINING) if (path / TRAINING).exists() else pd.DataFrame()
        return headline(manifest, coll, train, partial_reason(manifest))
    try:
        return load_run(path).headline
    except (NotARunDir, json.JSONDecodeError):
        return Headline()


def headline_lines(h: Headline) -> list[str]:
    from scaling.report import format as f

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
