"""How `scaling validate` talks: the plan and progress while it runs, the verdicts at the end."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scaling.format import sig
from scaling.validate import ValidateHooks, Validation

STYLE = {"PASS": "green", "WARN": "yellow", "FAIL": "red"}
MAX_ROWS = 40


class ValidateProgress(ValidateHooks):
    """The plan, then one line as each stage starts and ends, on `console` (stderr)."""

    def __init__(self, console: Console):
        self.console = console

    def notice(self, text: str) -> None:
        self.console.print(escape(text))

    def planned(self, run_dir: Path, lines: list[str]) -> None:
        self.console.print(f"run directory: {run_dir}")
        for line in lines:
            self.console.print(escape(line))

    def stage(self, name: str, what: str) -> None:
        self.console.print(f"{name}: running ({escape(what)})")

    def progress(self, name: str, done: int, total: int) -> None:
        self.console.print(f"{name}: {done}/{total}")

    def stage_done(self, name: str, seconds: float, failures: list[str]) -> None:
        self.console.print(f"{name}: done in {seconds:.1f} s")
        for why in failures:
            self.console.print(f"  [red]no result:[/] {escape(why)}")


def verdict_tables(result, out: Console) -> None:
    """Per check: PASS/WARN/FAIL counts and the figures' range; then what did not pass."""
    by = defaultdict(Counter)
    figures = defaultdict(list)
    for v in result.verdicts:
        by[v.check][v.verdict] += 1
        if v.value is not None and v.unit and v.code != "COMM_WRONG_RESULT":
            figures[v.check].append((v.value, v.unit))
    t = Table(title="verdicts per check", title_justify="left", header_style="bold")
    for col in ("check", "PASS", "WARN", "FAIL", "measured (min … max)"):
        t.add_column(col, justify="left" if col.startswith(("check", "measured")) else "right")
    for check, c in sorted(by.items()):
        vals = figures.get(check)
        span = (
            f"{sig(min(v for v, _ in vals))} … {sig(max(v for v, _ in vals))} {vals[0][1]}"
            if vals
            else ""
        )
        t.add_row(check, str(c["PASS"]), str(c["WARN"]), str(c["FAIL"]), span)
    out.print(t)
    bad = sorted(
        (v for v in result.verdicts if v.verdict != "PASS"), key=lambda v: v.verdict != "FAIL"
    )
    if not bad:
        return
    t = Table(title="what did not pass", title_justify="left", header_style="bold")
    for col in ("verdict", "code", "subject", "evidence"):
        t.add_column(col, overflow="fold")
    for v in bad[:MAX_ROWS]:
        t.add_row(
            f"[{STYLE[v.verdict]}]{v.verdict}[/]",
            v.code or "",
            escape(v.subject),
            escape(v.evidence),
        )
    out.print(t)
    if len(bad) > MAX_ROWS:
        out.print(f"... and {len(bad) - MAX_ROWS} more in validate.json")


def finish(outcome: Validation, out: Console, err: Console) -> int:
    """The verdicts, the outputs, the drain lines and the exit status."""
    if outcome.status == "interrupted":
        err.print(
            f"validation interrupted ({escape(outcome.error or '')}); samples kept in {outcome.path}"
        )
        return outcome.exit_code
    result = outcome.result
    verdict_tables(result, out)
    for note in result.notes:
        err.print(f"note: {escape(note)}")
    for name, path in outcome.outputs.items():
        err.print(f"{name}: {path}")
    if outcome.report is not None:
        err.print(f"report: {outcome.report.html}")
    else:
        err.print(f"[yellow]warning:[/] report not written ({escape(outcome.report_error or '')})")
    bad = [line for line in outcome.drain if not line.startswith("# scaling validate")]
    if bad:
        err.print("to take the bad nodes out (printed, not run):")
        for line in outcome.drain:
            err.print(f"  {escape(line)}")
    counts = result.counts()
    err.print(f"[{STYLE[result.status]}]{result.status}[/]: {counts['PASS']} PASS, "
              f"{counts['WARN']} WARN, {counts['FAIL']} FAIL  ·  exit {outcome.exit_code}  ·  "
              f"run directory: {outcome.path}")  # fmt: skip
    return outcome.exit_code
