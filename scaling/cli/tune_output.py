"""How `scaling tune` talks: the plan and one line per trial while it runs, the ranked table,
the winner and its files at the end. The table's rows are the report's (report/tune.py)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scaling.cli.validate_output import ValidateProgress
from scaling.report import tune as tune_report
from scaling.tune import TuneHooks, Tuning

MAX_PRUNED = 8


class TuneProgress(TuneHooks):
    """The plan, then each trial and rung as it happens, with the current best, on stderr.
    Notices and the plan print as `scaling validate` prints them."""

    def __init__(self, console: Console):
        self.console = console

    notice = ValidateProgress.notice
    planned = ValidateProgress.planned

    def progress(self, p) -> None:
        if p.kind == "trial":
            best = f"  (best so far {p.best}: {p.best_median:.4g}/s)" if p.best else ""
            self.console.print(f"trying {escape(p.message)}{escape(best)}")
        elif p.kind in ("result", "rung", "confirm", "stop", "tiebreak"):
            self.console.print(
                f"  {escape(p.message)}" if p.kind == "result" else escape(p.message)
            )


def finish(outcome: Tuning, out: Console, err: Console) -> int:
    """The ranked table, the pruned candidates, the winner, the files and the exit status."""
    if outcome.status == "interrupted" and outcome.document is None:
        err.print(f"tune interrupted ({escape(outcome.error or '')}) before a trial finished; "
                  f"every sample is kept in {outcome.path}")  # fmt: skip
        return outcome.exit_code
    if outcome.document is None:
        err.print(f"[red]tune failed[/]: {escape(outcome.error or 'unknown error')}; what was "
                  f"measured is in {outcome.path}")  # fmt: skip
        return outcome.exit_code
    doc = outcome.document
    table = Table(title="Candidates, ranked")
    for name in tune_report.RANK_COLUMNS:
        table.add_column(name, no_wrap=name in ("candidate", "status"))
    for row in tune_report.ranking_rows(doc):
        table.add_row(*(escape(str(c)) for c in row))
    out.print(table)
    pruned = doc["pruned"]
    if pruned:
        err.print(f"{len(pruned)} pruned before running:")
        for p in pruned[:MAX_PRUNED]:
            err.print(f"  {escape(p['id'])}: {escape(p['reason'])}")
        if len(pruned) > MAX_PRUNED:
            err.print(f"  ... {len(pruned) - MAX_PRUNED} more in tune.json")
    for line in tune_report.summary_lines(doc):
        err.print(escape(line))
    if doc.get("nccl"):
        for line in tune_report.nccl_lines(doc["nccl"]):
            err.print(escape(line))
    for path in outcome.outputs:
        err.print(f"{path.name}: {path}")
    if outcome.report is not None:
        err.print(f"report: {outcome.report.html}")
    else:
        err.print(f"[yellow]warning:[/] report not written ({escape(outcome.report_error or '')})")
    status = f"winner {doc['winner']['id']}" if doc.get("winner") else "no winner"
    if doc.get("partial"):
        status = f"PARTIAL tune ({doc['partial']}): {len(doc['ranking'])} candidates ranked "
        status += "from the trials that finished, no winner"
    err.print(f"{escape(status)}  ·  exit {outcome.exit_code}  ·  run directory: {outcome.path}")
    return outcome.exit_code
