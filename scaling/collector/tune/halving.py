"""Successive halving over candidates, each measured through a trial callback.

    result = successive_halving(ids, trial, Schedule(), budget_s=600, on_progress=print)

`trial(id, budget) -> TrialResult` runs one candidate for `budget.rounds` rounds of
`budget.steps` measured steps and returns one throughput per round (samples/s) and the
seconds it took. The search never looks inside: real runs and simulated ones
(tests, benchmarks/tune_simulated.py) and real ones (benchmarks/tune_efficiency.py) go through the same code.

The rungs (Li et al., "Hyperband", 2018; Jamieson & Talwalkar 2016):

1. every candidate gets a short trial (`first_steps` x `first_rounds`);
2. after each rung, a candidate the judge calls worse than the rung's best (beyond noise)
   is eliminated; of the rest, the better 1/eta by median go on ("cut by rank": their
   medians were lower, but the judge could not separate them from the best);
3. each rung is longer than the one before (steps and rounds grow geometrically), and the
   finalists (`finalists` or fewer) get the full measurement;
4. the winner is the final rung's best; a finalist the judge cannot separate from it ties
   with it, and among tied candidates the caller's preference picks (e.g. fewest changes
   from the base config), never the noisier medians;
5. the winner is rerun at full length and that figure is reported, not the trial's (the
   best of several noisy trials is biased upwards).

Mirrored rungs (`mirror`, on by default): after the first rung, each candidate is measured in
two calls, half its rounds each, the second pass in the reverse order (A B C, then C B A).
Trials run one after another, so the machine's drift between them (other tenants, clocks,
the state a process group or allocator starts in) would otherwise land on whichever
candidate ran at a bad moment, and one call's rounds cannot show it: identical `scaling run`s
of 2-rank gloo all_reduce on the development VM differed by up to 24% from run to run while
each run's rounds were tight (README, "Comparisons that don't cry wolf"). Mirrored, a linear
drift adds the same to every candidate's mean, and each candidate's rounds come from two
calls minutes apart, so the judge sees call-to-call noise and says "undecided" where it
cannot rank. The two halves are equal (a mirrored rung's rounds are rounded up to even):
with 3 rounds in one call and 2 in the other, the median would fall in the first call's
cluster and drift would rank the candidates again. The cost: one more build and warmup per
candidate at those rungs, and a round more where the rung's rounds were odd (the plan and
the cost projection count both). The first rung is not mirrored: it sees every candidate, and
doubling its setups would halve the candidates a budget covers. Its rounds come from one call
per candidate, so "worse beyond noise" there is beyond the noise inside a call only: on the
development VM the judge eliminated 27-28 of 32 candidates at that rung, the grid's best among
them (benchmarks/tune_efficiency.py). With mirrored rungs the first rung therefore eliminates
only a candidate the judge calls worse AND slower than the rung's best by more than
ONE_CALL_MARGIN_PCT; the rest are ranked and cut by rank like any candidate the judge
cannot separate. A trial callback with a `merge(cid, budget, first, second)` method combines the two
calls itself (the real one recomputes its figures from both calls' records); otherwise the
rounds are concatenated and only the figures both calls agree on are kept.

Budget (seconds of trial time): after the first trial the cost of each trial is projected
from what was measured (a fixed part plus a part per measured step). When the plan for
`WANT` candidates (or all, if fewer) does not fit, the full measurement is shortened first
(steps per round halved down to the first trial's, then rounds down to the first trial's):
a search over a few candidates measured at moderate length finds more than one candidate
measured at length. When every candidate's rungs still cannot fit, a seeded sample of them
is tried and the rest are listed as not tried. The schedule used is in the result.
Before a rung, if its trials do not fit what is left, only the best candidates that fit go
on; when fewer than two fit, the search stops: no other candidate can catch the best within
the budget. It also stops as soon as every other candidate is worse than the best beyond
noise.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

from scaling.collector.tune.judging import Judge, judge_label, trial_judge
from scaling.config.tune import TuneConfig

WANT = 8
"""Candidates the budget should cover before the full measurement is shortened to fit it."""
ONE_CALL_MARGIN_PCT = 30.0
"""How much slower than a one-call rung's best a candidate must be (its step time, from the
medians) to be eliminated there when the later rungs are mirrored. Two calls of one candidate
differ by more than a call's own rounds show: benchmarks/tune_efficiency.py's grid measured 32
candidates twice, and the log of the ratio of each candidate's two medians had a spread (sd) of
12.6%, up to +34%; and the best of 32 such calls is itself a lucky one. 30% is about 2.4
spreads: a slowed or broken candidate (the fault hook's 4x) still goes at once, a candidate
within reach of the best is ranked instead."""
ELIMINATED = "eliminated"
CUT = "cut"
FAILED = "failed"
NOT_TRIED = "not tried"
FINALIST = "finalist"
WINNER = "winner"
TIED = "tied"


@dataclass(frozen=True)
class Schedule:
    """How the rungs grow. The defaults, and what each field means, are the [tune] section's
    (config/tune.py TuneConfig): declared once, there."""

    eta: int = TuneConfig.eta
    finalists: int = TuneConfig.finalists
    first_steps: int = TuneConfig.first_steps
    first_rounds: int = TuneConfig.first_rounds
    full_steps: int = TuneConfig.full_steps
    full_rounds: int = TuneConfig.full_rounds
    warmup: int = 2
    """Untimed steps before each trial (the trial callback's own business)."""
    confirm: bool = TuneConfig.confirm
    seed: int = TuneConfig.seed
    mirror: bool = TuneConfig.mirror

    def __post_init__(self) -> None:
        if self.eta < 2 or self.finalists < 1:
            raise ValueError("eta must be >= 2 and finalists >= 1")
        if min(self.first_steps, self.first_rounds, self.full_steps, self.full_rounds) < 1:
            raise ValueError("steps and rounds must be >= 1")


@dataclass(frozen=True)
class TrialBudget:
    rung: int
    steps: int
    """Measured steps per round."""
    rounds: int
    warmup: int
    full: bool
    """True for the full measurement (final rung, confirmation)."""
    first_round: int = 0
    """Index of this call's first round: a mirrored rung's second call goes on numbering
    from the first's, so the two calls' rounds stay distinct in the records."""
    mirrored: bool = False
    """A call of a mirrored rung (either half), or a measurement made of both halves."""


@dataclass
class TrialResult:
    rounds: list[float]
    """Throughput per round (samples/s), each from that round's steps."""
    seconds: float
    """Time the trial took: what it costs the budget."""
    step_seconds: float | None = None
    """Of which inside measured steps (projects the cost of longer trials); None: all."""
    status: str = "ok"
    """ok | oom | error."""
    error: str | None = None
    figures: dict = field(default_factory=dict)
    """Whatever else the trial measured: per-GPU throughput, MFU, peak memory, exposed comm."""


Trial = Callable[[str, TrialBudget], TrialResult]


@dataclass
class Measurement:
    id: str
    budget: TrialBudget
    result: TrialResult

    @property
    def median(self) -> float | None:
        return statistics.median(self.result.rounds) if self.ok else None

    @property
    def ok(self) -> bool:
        return self.result.status == "ok" and bool(self.result.rounds)

    def to_dict(self) -> dict:
        r = self.result
        budget = asdict(self.budget)
        budget.pop("first_round")  # always 0 here: the measurement holds both calls
        calls = 2 if budget.pop("mirrored") else 1
        return {
            "id": self.id,
            **budget,
            "calls": calls,
            "status": r.status,
            "error": r.error,
            "rounds": r.rounds,
            "median": self.median,
            "low": min(r.rounds) if self.ok else None,
            "high": max(r.rounds) if self.ok else None,
            "seconds": r.seconds,
            "figures": r.figures,
        }


@dataclass
class Outcome:
    status: str
    """winner | tied | finalist | eliminated | cut | failed | not tried."""
    rung: int | None
    """Last rung the candidate ran in (None: never ran)."""
    reason: str
    verdict: str | None = None
    """The judge's verdict on it against the best of its last rung."""


@dataclass(frozen=True)
class Progress:
    kind: str
    """plan | trial | result | rung | stop | confirm | done."""
    message: str
    rung: int | None = None
    candidate: str | None = None
    best: str | None = None
    best_median: float | None = None


@dataclass
class SearchResult:
    planned: list[dict]
    measurements: list[Measurement]
    outcomes: dict[str, Outcome]
    winner: str | None
    tied: list[str]
    confirm: Measurement | None
    spent_s: float
    budget_s: float | None
    stop_reason: str
    judge: str
    rungs: list[dict] = field(default_factory=list)
    schedule: dict = field(default_factory=dict)
    """The schedule the search ran (after any shortening to fit the budget)."""
    schedule_note: str = ""


class _Costs:
    """Projects a trial's seconds from those measured: fixed part + per measured step."""

    def __init__(self) -> None:
        self.fixed: dict[str, float] = {}
        self.per_step: dict[str, float] = {}

    def learn(self, m: Measurement) -> None:
        r, b = m.result, m.budget
        inside = r.seconds if r.step_seconds is None else r.step_seconds
        self.fixed[m.id] = max(r.seconds - inside, 0.0)
        self.per_step[m.id] = inside / (b.steps * b.rounds)

    def project(self, cid: str, steps: int, rounds: int, calls: int = 1) -> float:
        """Seconds of `calls` calls measuring steps x rounds in all (a mirrored trial: 2)."""
        if not self.fixed:
            return 0.0
        fixed = self.fixed.get(cid, statistics.mean(self.fixed.values()))
        per = self.per_step.get(cid, statistics.mean(self.per_step.values()))
        return fixed * calls + per * steps * rounds


def schedule_of(cfg: TuneConfig) -> Schedule:
    """The Schedule a [tune] section asks for."""
    return Schedule(
        eta=cfg.eta,
        finalists=cfg.finalists,
        first_steps=cfg.first_steps,
        first_rounds=cfg.first_rounds,
        full_steps=cfg.full_steps,
        full_rounds=cfg.full_rounds,
        confirm=cfg.confirm,
        seed=cfg.seed,
        mirror=cfg.mirror,
    )


def plan_rungs(n: int, s: Schedule) -> list[dict]:
    """Survivors, trial length and calls per candidate of each rung for n candidates (2: a
    mirrored rung, its rounds rounded up to even so that both calls have half)."""
    counts = [n]
    while counts[-1] > s.finalists:
        counts.append(max(s.finalists, math.ceil(counts[-1] / s.eta)))
    last = len(counts) - 1
    rungs = []
    for k, c in enumerate(counts):
        frac = k / last if last else 1.0
        steps = round(s.first_steps * (s.full_steps / s.first_steps) ** frac)
        rounds = round(s.first_rounds + (s.full_rounds - s.first_rounds) * frac)
        calls = 2 if s.mirror and k > 0 and c > 1 and rounds > 1 else 1
        rounds += rounds % 2 if calls == 2 else 0
        rungs.append({"rung": k, "candidates": c, "steps": steps, "rounds": rounds, "calls": calls})
    return rungs


def successive_halving(
    ids: Sequence[str],
    trial: Trial,
    schedule: Schedule | None = None,
    budget_s: float | None = None,
    judge: Judge | None = None,
    prefer: Callable[[str], object] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> SearchResult:
    """Run the search; see the module docstring. ids[0] is tried first (the baseline)."""
    if not ids:
        raise ValueError("no candidates to search")
    if len(set(ids)) != len(ids):
        raise ValueError("candidate ids must be unique")
    judge = judge or trial_judge(TuneConfig.threshold_pct, TuneConfig.confidence)
    return _Search(
        list(ids), trial, schedule or Schedule(), budget_s, judge, prefer, on_progress
    ).run()


class _Search:
    def __init__(self, ids, trial, schedule, budget_s, judge, prefer, on_progress):
        self.ids, self.trial, self.s, self.budget_s = ids, trial, schedule, budget_s
        self.judge = judge
        self.prefer = prefer or ids.index
        self.emit = on_progress or (lambda p: None)
        self.costs = _Costs()
        self.measurements: list[Measurement] = []
        self.outcomes: dict[str, Outcome] = {}
        self.rungs: list[dict] = []
        self.spent = 0.0
        self.best: tuple[str, float] | None = None
        self.budget_stop = ""
        self.schedule_note = ""

    # -- the loop

    def run(self) -> SearchResult:
        survivors, planned = self._first_rung()
        k = 0
        while True:
            decided = self._judge_rung(k, survivors, final=k == len(planned) - 1)
            survivors = self.rungs[-1]["kept"]
            stop = self._why_stop(k, survivors, planned, decided)
            if stop:
                break
            k += 1
            survivors, stop = self._fit_rung(planned[k], survivors)
            if stop:
                break
            self._run_rung(planned[k], survivors, final=k == len(planned) - 1)
        self.emit(Progress("stop", stop, k))
        winner, tied = self._decide(survivors)
        confirm = self._confirm(winner)
        self.emit(Progress("done", f"winner {winner}" if winner else "no winner", best=winner))
        return SearchResult(
            planned,
            self.measurements,
            self.outcomes,
            winner,
            tied,
            confirm,
            self.spent,
            self.budget_s,
            stop,
            judge_label(self.judge),
            self.rungs,
            asdict(self.s),
            self.schedule_note,
        )

    def _first_rung(self) -> tuple[list[str], list[dict]]:
        planned = plan_rungs(len(self.ids), self.s)
        first = self._budget(planned[0], 0, len(planned) == 1)
        self._measure(self.ids[0], first)
        tried = self._sample(first)
        if len(tried) == 1:  # nothing else fits: the baseline's trial is all there is
            planned = [
                {**planned[0], "candidates": 1, "steps": first.steps, "rounds": first.rounds}
            ]
        elif len(tried) < len(self.ids) or self.schedule_note:
            planned = plan_rungs(len(tried), self.s)
            if self._budget(planned[0], 0, len(planned) == 1) != first:
                first = self._budget(planned[0], 0, len(planned) == 1)
                self._measure(self.ids[0], first)  # the baseline again, at this rung's length
        self.emit(Progress("plan", _plan_text(planned, len(self.ids))))
        for cid in tried[1:]:
            self._measure(cid, first)
        return tried, planned

    def _sample(self, first: TrialBudget) -> list[str]:
        """All candidates when their rungs fit the budget, else a seeded sample that does."""
        n = len(self.ids)
        if self.budget_s is None:
            return list(self.ids)
        self._shorten(min(n, WANT), first)
        fit = n
        while fit > 1 and self.spent + self._plan_cost(fit, first) > self.budget_s:
            fit -= 1
        if fit == 1:
            self.budget_stop = (
                f"budget: the {_secs(self.budget_s)} budget leaves no room beyond the first "
                "candidate's trial"
            )
        if fit == n:
            return list(self.ids)
        rest = random.Random(self.s.seed).sample(self.ids[1:], fit - 1)
        keep = [self.ids[0]] + [c for c in self.ids[1:] if c in rest]
        reason = (
            f"not tried: the {_secs(self.budget_s)} budget allows {fit} of {n} "
            "candidates (a seeded sample); raise the budget or fix some dimensions"
        )
        for cid in self.ids:
            if cid not in keep:
                self.outcomes[cid] = Outcome(NOT_TRIED, None, reason)
        return keep

    def _shorten(self, want: int, first: TrialBudget) -> None:
        """Shorten the full measurement until the plan for `want` candidates fits."""
        s, before = self.s, self.s
        while self.spent + self._plan_cost(want, first) > self.budget_s:
            if s.full_steps > s.first_steps:
                s = replace(s, full_steps=max(s.first_steps, s.full_steps // 2))
            elif s.full_rounds > s.first_rounds:
                s = replace(s, full_rounds=s.full_rounds - 1)
            else:
                break
            self.s = s
        if s != before:
            self.schedule_note = (
                f"full measurement shortened from {before.full_rounds} x {before.full_steps} to "
                f"{s.full_rounds} x {s.full_steps} (rounds x steps) so that {want} candidates fit "
                f"the {_secs(self.budget_s)} budget"
            )
            self.emit(Progress("plan", self.schedule_note))

    def _plan_cost(self, n: int, first: TrialBudget) -> float:
        """Projected seconds of the whole plan for n candidates, less the first trial if the
        plan's first rung is as long as that trial was."""
        planned = plan_rungs(n, self.s)
        same = self._budget(planned[0], 0, len(planned) == 1) == first
        already = 1 if same else 0
        full = self.costs.project("", self.s.full_steps, self.s.full_rounds)
        total = full if self.s.confirm else 0.0
        for r in planned:
            n = r["candidates"] - (already if r["rung"] == 0 else 0)
            total += n * self.costs.project("", r["steps"], r["rounds"], r["calls"])
        return total

    def _run_rung(self, rung: dict, survivors: list[str], final: bool) -> None:
        budget = self._budget(rung, rung["rung"], final)
        if not budget.mirrored:
            for cid in survivors:
                self._measure(cid, budget)
            return
        first = replace(budget, rounds=budget.rounds // 2)  # even: plan_rungs says why
        second = replace(first, first_round=first.rounds)
        done = {cid: self._call(cid, first, "first half") for cid in survivors}
        for cid in reversed(survivors):  # the mirror: the last one first
            r = done[cid]
            if r.status == "ok" and r.rounds:
                r = self._merge(cid, budget, r, self._call(cid, second, "second half"))
            self._record(Measurement(cid, budget, r))

    def _merge(self, cid: str, budget: TrialBudget, a: TrialResult, b: TrialResult):
        merge = getattr(self.trial, "merge", None)
        if b.status != "ok" or not b.rounds:  # the candidate failed in its second call
            status = b.status if b.status != "ok" else "error"
            error = f"second half: {b.error or 'no rounds timed'}"
            return TrialResult([], a.seconds + b.seconds, None, status, error)
        if merge is not None:
            return merge(cid, budget, a, b)
        return merged_result(a, b)

    # -- one rung's decisions

    def _judge_rung(self, k: int, survivors: list[str], final: bool) -> bool:
        """Eliminate, cut, keep; True when the rung decided everything."""
        latest = {m.id: m for m in self.measurements if m.budget.rung == k}
        ok = [c for c in survivors if latest[c].ok]
        for c in survivors:
            if not latest[c].ok:
                r = latest[c].result
                self.outcomes[c] = Outcome(FAILED, k, f"{r.status} at rung {k}: {r.error or ''}")
        if not ok:
            self.rungs.append({"rung": k, "kept": [], "note": "every trial failed"})
            return True
        best = max(ok, key=lambda c: latest[c].median)
        self.best = (best, latest[best].median)
        rounds = latest[best].result.rounds
        verdicts = {c: self.judge(latest[c].result.rounds, rounds) for c in ok if c != best}
        one_call = self.s.mirror and not latest[best].budget.mirrored and not final
        floor = latest[best].median / (1.0 + ONE_CALL_MARGIN_PCT / 100.0) if one_call else None
        worse = [
            c for c, v in verdicts.items()
            if v == "worse" and (floor is None or latest[c].median < floor)
        ]  # fmt: skip
        beyond = f" and more than {ONE_CALL_MARGIN_PCT:g}% slower" if one_call else ""
        for c in worse:
            self.outcomes[c] = Outcome(
                ELIMINATED, k, f"worse than {best} beyond noise{beyond} at rung {k}", "worse"
            )
        alive = sorted((c for c in ok if c not in worse), key=lambda c: -latest[c].median)
        keep_n = max(self.s.finalists, math.ceil(len(survivors) / self.s.eta))
        kept = alive if final else alive[:keep_n]
        self._cut(k, alive[len(kept) :], latest, kept, verdicts)
        for c in kept:
            self.outcomes[c] = Outcome(FINALIST, k, f"kept at rung {k}", verdicts.get(c))
        self.rungs.append(
            {"rung": k, "best": best, "kept": kept, "cut": alive[len(kept) :], "eliminated": worse}
            | ({"one_call_margin_pct": ONE_CALL_MARGIN_PCT} if one_call else {})
        )
        message = f"rung {k}: {len(kept)} go on, {len(alive) - len(kept)} cut by rank, "
        message += f"{len(worse)} worse beyond noise{beyond}"
        self.emit(Progress("rung", message, k, best=best, best_median=latest[best].median))
        return len(kept) <= 1

    def _cut(self, k: int, cut: list[str], latest: dict, kept: list[str], verdicts: dict) -> None:
        """Below the better 1/eta by median, and not eliminated: the judge could not separate
        them from the best, or (a one-call rung) called them worse but within the margin."""
        cut_at = latest[kept[-1]].median
        for c in cut:
            judged = (
                "worse than the best within one call, not by the margin calls differ by"
                if verdicts[c] == "worse"
                else "not separated from the best beyond noise"
            )
            why = (
                f"median {latest[c].median:.4g} below the better {len(kept)} (cut at "
                f"{cut_at:.4g}) at rung {k}; {judged}"
            )
            self.outcomes[c] = Outcome(CUT, k, why, verdicts[c])

    def _why_stop(self, k: int, survivors: list[str], planned: list[dict], decided: bool) -> str:
        if self.budget_stop:
            return self.budget_stop
        if not survivors:
            return f"every candidate failed by rung {k}"
        if k == len(planned) - 1:
            return "the finalists had the full measurement"
        if decided:
            return f"decided at rung {k}: every other candidate is worse beyond noise"
        return ""

    def _fit_rung(self, rung: dict, survivors: list[str]) -> tuple[list[str], str]:
        """The survivors whose trials fit the budget left (the best by median first)."""
        if self.budget_s is None:
            return survivors, ""
        left = self.budget_s - self.spent
        if self.s.confirm:
            left -= self.costs.project(survivors[0], self.s.full_steps, self.s.full_rounds)
        fitting, cost = [], 0.0
        for c in survivors:  # the rung's kept list: best median first
            more = self.costs.project(c, rung["steps"], rung["rounds"], rung["calls"])
            if cost + more > left:
                break
            fitting.append(c)
            cost += more
        if len(fitting) < 2:
            return survivors, (
                f"budget: rung {rung['rung']} ({len(survivors)} trials of {rung['rounds']} x "
                f"{rung['steps']} steps) does not fit the {_secs(max(left, 0))} left: no other "
                "candidate can catch the best within the budget"
            )
        for c in survivors[len(fitting) :]:
            self.outcomes[c] = Outcome(
                CUT,
                rung["rung"] - 1,
                f"cut by the budget before rung {rung['rung']} (best by median go on first)",
            )
        return fitting, ""

    def _decide(self, survivors: list[str]) -> tuple[str | None, list[str]]:
        """The winner and those tied with it; the caller's preference picks among ties."""
        if not survivors:
            return None, []
        best = self.best[0]
        group = [best] + [c for c in survivors if c != best and self.outcomes[c].verdict != "worse"]
        winner = min(group, key=self.prefer)
        won = self._last_rounds(winner)
        for c in group:
            status = WINNER if c == winner else TIED
            why = "best median" if c == best else "not separated from the best median"
            if len(group) > 1:
                why += f"; {len(group)} tied, picked by preference, not by the medians"
            verdict = None if c == winner else self.judge(self._last_rounds(c), won)
            self.outcomes[c] = Outcome(status, self.outcomes[c].rung, why, verdict)
        return winner, [c for c in group if c != winner]

    def _last_rounds(self, cid: str) -> list[float]:
        rung = self.outcomes[cid].rung
        return next(
            m.result.rounds
            for m in reversed(self.measurements)
            if m.id == cid and m.budget.rung == rung
        )

    def _confirm(self, winner: str | None) -> Measurement | None:
        if not winner or not self.s.confirm:
            return None
        cost = self.costs.project(winner, self.s.full_steps, self.s.full_rounds)
        if self.budget_s is not None and self.spent + cost > self.budget_s:
            self.emit(Progress("confirm", f"winner not rerun: ~{_secs(cost)} left no room"))
            return None
        budget = TrialBudget(-1, self.s.full_steps, self.s.full_rounds, self.s.warmup, True)
        self.emit(Progress("confirm", f"rerunning {winner} at full length", candidate=winner))
        return self._measure(winner, budget)

    # -- helpers

    def _budget(self, rung: dict, k: int, final: bool) -> TrialBudget:
        """The rung's trial as plan_rungs laid it out: the last rung is the full length
        (its rounds made even when mirrored), and `final` marks it so."""
        mirrored = rung.get("calls", 1) == 2
        return TrialBudget(
            k, rung["steps"], rung["rounds"], self.s.warmup, final, mirrored=mirrored
        )

    def _measure(self, cid: str, budget: TrialBudget) -> Measurement:
        m = Measurement(cid, budget, self._call(cid, budget))
        self._record(m)
        return m

    def _call(self, cid: str, budget: TrialBudget, part: str = "") -> TrialResult:
        """One call of the trial callback: the budget pays for it, the costs learn from it."""
        best = self.best or (None, None)
        what = f"{budget.rounds} x {budget.steps} steps" + (f", {part}" if part else "")
        self.emit(Progress("trial", f"rung {budget.rung}: {cid} ({what})", budget.rung, cid, *best))
        result = self.trial(cid, budget)
        self.spent += result.seconds
        self.costs.learn(Measurement(cid, budget, result))
        return result

    def _record(self, m: Measurement) -> None:
        """A candidate's measurement at a rung (both calls of a mirrored one)."""
        self.measurements.append(m)
        best = self.best or (None, None)
        self.emit(Progress("result", _result_text(m), m.budget.rung, m.id, *best))


def merged_result(a: TrialResult, b: TrialResult) -> TrialResult:
    """Two calls of one candidate as one result: rounds in call order, costs added; only the
    figures both calls agree on (facts such as the global batch) are kept, since a figure of
    one call is not the figure of both."""
    steps = (
        None
        if a.step_seconds is None or b.step_seconds is None
        else a.step_seconds + b.step_seconds
    )
    same = {k: v for k, v in a.figures.items() if b.figures.get(k) == v}
    return TrialResult(a.rounds + b.rounds, a.seconds + b.seconds, steps, "ok", None, same)


def _plan_text(planned: list[dict], n: int) -> str:
    rungs = ", ".join(f"{r['candidates']} x {r['rounds']}x{r['steps']}" for r in planned)
    return f"{n} candidates; rungs (candidates x rounds x steps): {rungs}"


def _result_text(m: Measurement) -> str:
    if not m.ok:
        return f"{m.id}: {m.result.status} {m.result.error or ''}".strip()
    r = m.result.rounds
    return f"{m.id}: {m.median:.4g}/s [{min(r):.4g}-{max(r):.4g}] in {m.result.seconds:.1f} s"


def _secs(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"
