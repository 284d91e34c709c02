"""How `scaling compare` reads on a terminal: one row per point, then the run's verdict."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from scaling import format as f

FIGURE = {"busbw_gbps": "busbw GB/s", "time_p50_us": "time p50 us", "samples_per_s": "samples/s"}
STYLE = {"regression": "red", "improvement": "green", "same": "", "undecided": "yellow"}
COLUMNS = ("point", "figure", "base", "new", "Δ", "time Δ judged [interval]", "p", "MDC",
           "verdict")  # fmt: skip


def print_comparison(result, out: Console) -> None:
    pts = result.points
    conf = f"{result.confidence:.0%}"
    t = Table(title=f"{result.new} vs {result.base}", title_justify="left", header_style="bold")
    for col in COLUMNS:
        t.add_column(col, justify="left" if col in ("point", "figure", "verdict") else "right")
    for r in pts.to_dict(orient="records"):
        t.add_row(
            r["point"],
            FIGURE.get(r["metric"], r["metric"]),
            f.sig(r["base"]),
            f.sig(r["new"]),
            f.signed_pct(r["delta_pct"]),
            _judged(r),
            "n/a" if f.missing(r["p_value"]) else f"{r['p_value']:.2g}",
            "n/a" if f.missing(r["mdc_pct"]) else f"{r['mdc_pct']:.1f}%",
            _verdict(r),
        )
    if len(pts):
        out.print(t)
        out.print(
            f"  Δ: change of the figure (all iterations pooled); time Δ judged: change of the "
            "median over rounds of each round's 25th-percentile time, after the environment "
            f"shift or reference is taken out, [{conf} bootstrap interval]; p: Mann-Whitney U "
            "over rounds; MDC: the smallest change these rounds could show as real."
        )
    for label, only in (("base", result.only_base), ("new", result.only_new)):
        if only:
            more = f" and {len(only) - 5} more" if len(only) > 5 else ""
            out.print(f"only in {label}: {', '.join(only[:5])}{more}")
    print_verdict(result, out)


def print_verdict(result, out: Console) -> None:
    """The run's lines: the environment shift, notes, the verdict counts and the rule."""
    s = result.shift
    if s.named and abs(s.pct) >= 0.5:
        out.print(f"[bold]environment shift of {s.pct:+.1f}%[/]: {s.reason}")
    elif s.named:
        out.print(f"no environment shift: the points moved alike by {s.pct:+.1f}%")
    elif s.classes:
        out.print(f"no environment shift named: {s.reason}")
    for note in result.notes:
        out.print(f"note: {note}")
    counts = result.counts()
    n = len(result.points)
    tally = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    bars = result.points["p_bar"].dropna()
    bar_text = f"p < {bars.iloc[0]:.2g}, " if len(bars) else ""
    rule = (
        f"regression: real ({bar_text}{result.confidence:.0%} confidence over the {n} points) "
        f"and slower by more than {result.threshold_pct:g}%"
    )
    if not n:
        out.print("nothing compared: no point of BASE was found in NEW (see the line on stderr)")
    elif counts["regression"]:
        head = f"[red]{counts['regression']} regression(s)[/]"
        out.print(f"{head} in {n} matched points ({tally}; {rule})")
    else:
        out.print(f"no regressions in {n} matched points ({tally or 'none'}; {rule})")


def _judged(r: dict) -> str:
    if f.missing(r["judged_delta_pct"]):
        return "n/a"
    text = f.signed_pct(r["judged_delta_pct"])
    if not f.missing(r["interval_low_pct"]):
        text += f" [{r['interval_low_pct']:+.1f}, {r['interval_high_pct']:+.1f}]"
    return text


def _verdict(r: dict) -> str:
    v = r["verdict"]
    style = STYLE.get(v, "")
    label = f"[{style}]{v.upper() if v == 'regression' else v}[/]" if style else v
    if v == "regression":
        return f"{label} {r['why']}"
    return label
