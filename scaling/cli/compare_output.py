"""How `scaling compare` reads on a terminal: the uniform-shift line first, what changed in
the manifests, the classes, the points, then the verdict."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from scaling import format as f

STYLE = {"regression": "red", "improvement": "green", "same": "", "undecided": "yellow",
         "accepted": "yellow"}  # fmt: skip
COLUMNS = ("", "base ms", "new ms", "time Δ", "p", "MDC", "runs to decide", "verdict")
MAX_POINT_ROWS = 40


def print_comparison(result, out: Console) -> None:
    if result.first_line:
        out.print(f"[bold]{result.first_line}[/]")
    _print_differences(result, out)
    out.print(
        f"base: {len(result.base)} run(s), new: {len(result.new)} run(s); "
        f"between-run spread from: {result.spread}"
    )
    out.print(_table("class", result.classes))
    pts = result.points
    shown = pts if len(pts) <= MAX_POINT_ROWS else pts[pts["verdict"] != "same"]
    if len(shown):
        out.print(_table("point", shown.head(MAX_POINT_ROWS)))
    if len(shown) < len(pts):
        out.print(f"  ({len(pts) - min(len(shown), MAX_POINT_ROWS)} more points; --json has all)")
    out.print(
        "  base/new: geometric mean over each side's runs of each run's median round time "
        "(slowest rank; training: the step); "
        "p: Student's t over run figures (logs); MDC: the smallest change the runs could show; "
        "runs to decide: runs per side that would show a threshold-sized change."
    )
    for label, only in (("base", result.only_base), ("new", result.only_new)):
        if only:
            more = f" and {len(only) - 5} more" if len(only) > 5 else ""
            out.print(f"only in {label}: {', '.join(only[:5])}{more}")
    print_startup(result.startup, out)
    print_verdict(result, out)


def _print_differences(result, out: Console) -> None:
    if not result.differences:
        out.print("manifests: nothing differs (stack, hardware, environment, config)")
        return
    out.print("what changed:")
    for d in result.differences:
        out.print(f"  {'[bold]' if d.stack else ''}{d.line()}{'[/]' if d.stack else ''}")


def _table(what: str, rows) -> Table:
    t = Table(header_style="bold")
    for col in COLUMNS:
        t.add_column(col or what, justify="left" if col in ("", "verdict") else "right")
    for r in rows.to_dict(orient="records"):
        t.add_row(
            str(r["label"]), f.sig(r["base"] * 1e3), f.sig(r["new"] * 1e3),
            f.signed_pct(r["delta_pct"]),
            "n/a" if f.missing(r["p_value"]) else f"{r['p_value']:.2g}",
            "n/a" if f.missing(r["mdc_pct"]) else f"{r['mdc_pct']:.1f}%",
            "n/a" if f.missing(r["runs_needed"]) else str(int(r["runs_needed"])),
            _verdict(r),
        )  # fmt: skip
    return t


def print_startup(table, out: Console) -> None:
    """A line per world size both runs formed: communicator start-up, base -> new. Read, not
    judged: each run formed the group once (collector/startup.py); with several runs per side,
    the median over them."""
    if table is None or table.empty:
        return
    out.print("communicator start-up (world group, slowest rank; ms, base -> new, not judged):")
    for r in table.to_dict(orient="records"):
        parts = [
            f"{what} {f.ms(r[key + '_base'])} -> {f.ms(r[key + '_new'])}"
            + ("" if f.missing(r[key + "_ratio"]) else f" (x{r[key + '_ratio']:.2f})")
            for what, key in (("init", "init_s"), ("first collective", "first_collective_s"),
                              ("setup", "setup_s"))
        ]  # fmt: skip
        out.print(f"  world size {r['world_size']}: " + "; ".join(parts))


def print_verdict(result, out: Console) -> None:
    for what, rows in (("classes", result.classes), ("points", result.points)):
        undecided = rows[rows["verdict"] == "undecided"]
        for why, n in undecided["why"].value_counts().items():
            out.print(f"{n} {what} undecided: {why}")
    for note in result.notes:
        out.print(f"note: {note}")
    for failure in result.failures:
        out.print(f"[red]FAILED[/] {failure}")
    cls, pts = result.classes, result.points
    tally = ", ".join(
        f"{int((cls['verdict'] == v).sum())} {v}" for v in STYLE if (cls["verdict"] == v).any()
    )
    rule = (f"regression: slower by more than {result.threshold_pct:g}% and beyond the "
            f"between-run spread at {result.confidence:.0%} confidence")  # fmt: skip
    n = result.regressions
    if not len(pts) and not n:
        out.print("nothing compared: no point of BASE was found in NEW (see the line on stderr)")
    elif n:
        out.print(f"[red]{n} regression(s)[/] over {len(cls)} classes and {len(pts)} points "
                  f"(classes: {tally}; {rule})")  # fmt: skip
    else:
        out.print(f"no regressions over {len(cls)} classes and {len(pts)} points "
                  f"(classes: {tally or 'none'}; {rule})")  # fmt: skip


def _verdict(r: dict) -> str:
    v = r["verdict"]
    style = STYLE.get(v, "")
    label = f"[{style}]{v.upper() if v == 'regression' else v}[/]" if style else v
    return f"{label} {r['why']}" if v in ("regression", "accepted") else label
