"""The collectives part of predict.json: each measured collective's alpha-beta fits (one per
span: intra- or inter-node), their bootstrap and holdout, and its times and busbw at the
target world sizes, with --what-if's link/intra/alpha replaced when given.

prediction.py assembles the document; the training part (step time, efficiency, where it
crosses 90% and 75%) stays there and reads its all_reduce family from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaling.collector.predict import whatif as wi
from scaling.collector.predict.fit_points import PointSet, all_reduce_sets, interval
from scaling.collector.predict.hockney import CollectiveFit, factor
from scaling.collector.predict.holdout import collective_holdout
from scaling.collector.predict.step import INTER, INTRA, Layout


@dataclass
class FittedSet:
    ps: PointSet
    fit: CollectiveFit
    boots: list[CollectiveFit]
    holdout: dict


def fit_set(ps: PointSet, reps: int, rng) -> FittedSet:
    fit = ps.fit()
    return FittedSet(ps, fit, ps.bootstrap(fit, reps, rng), collective_holdout(ps))


def families(fitted: list[FittedSet]) -> dict[tuple, dict[str, FittedSet]]:
    fams: dict[tuple, dict[str, FittedSet]] = {}
    for fs in fitted:
        fams.setdefault((fs.ps.op, fs.ps.dtype, fs.ps.timing), {})[fs.ps.span] = fs
    return fams


def all_reduce_family(fitted: list[FittedSet]) -> dict[str, FittedSet]:
    by_set = {id(fs.ps): fs for fs in fitted}
    return {span: by_set[id(ps)] for span, ps in all_reduce_sets([fs.ps for fs in fitted]).items()}


def validation(holdout: dict, what: str) -> str:
    if holdout.get("status") != "validated":
        return f"unvalidated: {holdout.get('reason', 'no holdout')}"
    return f"validated: holdout at n={holdout['held_out_n']}, {what}"


def what_if_fits(fits: dict, what_if: dict) -> tuple[dict, list[str]]:
    fits, notes = dict(fits), []
    if "link" in what_if:
        if INTER in fits:
            fits[INTER] = fits[INTER].with_bandwidth(what_if["link"])
        elif INTRA in fits:
            fits[INTER] = fits[INTRA].with_bandwidth(what_if["link"])
            notes.append(
                "no inter-node measurement: inter-node latency taken from the intra-node fit"
            )
    if "intra" in what_if:
        if INTRA in fits:
            fits[INTRA] = fits[INTRA].with_bandwidth(what_if["intra"])
        else:
            notes.append("no intra-node fit: intra= not applied")
    if "alpha" in what_if:
        fits = {s: f.with_alpha(what_if["alpha"]) for s, f in fits.items()}
    return fits, notes


def collective_entry(fam: dict[str, FittedSet], targets, layout: Layout, what_if: dict) -> dict:
    any_fs = next(iter(fam.values()))
    op = any_fs.ps.op
    lo = min(fs.fit.size_range[0] for fs in fam.values())
    hi = max(fs.fit.size_range[1] for fs in fam.values())
    sizes = [lo, hi] if hi > lo else [hi]
    entry = {
        "op": op,
        "dtype": any_fs.ps.dtype,
        "timing": any_fs.ps.timing,
        "fits": {span: {**fs.fit.to_dict(), "holdout": fs.holdout} for span, fs in fam.items()},
        "predictions": _collective_rows(
            fam, {s: fs.fit for s, fs in fam.items()}, targets, layout, sizes
        ),
    }
    if what_if and set(what_if) & {"link", "intra", "alpha"}:
        fits, notes = what_if_fits({s: fs.fit for s, fs in fam.items()}, what_if)
        entry["what_if"] = {
            "replaced": wi.describe(what_if),
            "notes": notes,
            "predictions": _collective_rows(fam, fits, targets, layout, sizes, boots=False),
        }
    return entry


def _collective_rows(fam, fits, targets, layout, sizes, boots: bool = True) -> list[dict]:
    rows = []
    for n in sorted(targets):
        span = layout.span(n)
        fit = fits.get(span)
        fs = fam.get(span)
        for size in sizes:
            row = {"n": n, "nodes": layout.nodes(n), "span": span, "size_bytes": size}
            if fit is None or n < 2:
                why = "one rank: no communication" if n < 2 else f"no {span} measurement"
                rows.append({**row, "time_us": None, "reason": why})
                continue
            lat, bw = (float(v[0]) for v in fit.terms(size, n))
            t = lat + bw
            c = float(factor(fit.op, np.array([n]))[0])
            reps = [float(b.time(size, n)[0]) for b in fs.boots] if (boots and fs) else []
            lo, hi = interval(reps)
            row.update(
                time_us=t * 1e6,
                time_us_interval=[v * 1e6 for v in (lo, hi)] if lo is not None else None,
                busbw_gbps=size * c / t / 1e9,
                busbw_gbps_interval=[size * c / v / 1e9 for v in (hi, lo)]
                if lo is not None
                else None,
                dominant="latency" if lat >= bw else "bandwidth",
                extrapolation=n / max(fit.world_sizes),
                validation=validation(fs.holdout, _plateau_text(fs.holdout)) if fs else "what-if",
            )
            rows.append(row)
    return rows


def _plateau_text(h: dict) -> str:
    if h.get("status") != "validated":
        return ""
    return f"plateau error {h['plateau_error_pct']:.1f}%"
