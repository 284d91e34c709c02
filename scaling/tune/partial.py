"""A tune stopped before its decision (interrupted, or failed mid-search) still ranks what it
measured: tune.json and its ranked table, from the trials that finished, marked partial.

    doc, outputs = write_partial(rundir, cfg, target, space, ctx, trials, "terminated by SIGTERM")

Nothing is decided in it: no winner, no best.toml, and no halving verdicts (a rung that did
not finish judged no one). Each finished trial is ranked by its own figure, longest trial
first, as the full ranking does; its status says "measured" (or "failed").
"""

from __future__ import annotations

from scaling.collector.tune.halving_types import FAILED, CandidateStanding, SearchResult

MEASURED = "measured"


def partial_search(trials, budget_s: float, why: str) -> SearchResult:
    """The search as far as it got: every finished trial, each candidate's last one ranked."""
    outcomes = {}
    for m in trials.finished:
        rung = m.budget.rung
        if m.ok:
            outcomes[m.id] = CandidateStanding(MEASURED, rung, f"{why} before the search decided")
        else:
            outcomes[m.id] = CandidateStanding(FAILED, rung, m.result.error or m.result.status)
    spent = sum(m.result.seconds for m in trials.finished)
    stop = f"{why}: partial, {len(trials.finished)} trials finished, no winner named"
    return SearchResult([], list(trials.finished), outcomes, None, [], None, spent, budget_s,
                        stop, judge="none: the search was stopped before judging")  # fmt: skip


def write_partial(rundir, cfg, target, space, ctx, trials, why: str, meta: dict):
    """(tune.json's document, paths written), or (None, []) when no trial finished or the
    space was never planned. Never raises: the tune's own ending matters more."""
    from scaling.collector.tune.result import tune_document
    from scaling.sinks.tune_files import write_tune

    if space is None or not trials.finished:
        return None, []
    try:
        search = partial_search(trials, cfg.tune.budget, why)
        doc = tune_document(search, space, ctx, cfg.tune, meta)
        doc["partial"] = why
        return doc, write_tune(rundir.path, doc, None)
    except Exception as e:  # the samples are on disk; say why the table is not
        rundir.write_manifest(partial_tune_error=f"{type(e).__name__}: {e}")
        return None, []
