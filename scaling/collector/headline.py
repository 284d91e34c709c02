"""The headline of a run: its few figures that matter, and verdicts a person can act on.

Computed from the two summary tables and the manifest only, so `scaling runs` can show it
for past runs from their summary.csv / training.csv without reloading raw samples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from scaling.collector.curves import rank_list
from scaling.collector.training import STRAGGLER_RATIO
from scaling.config.units import format_size
from scaling.format import json_safe, missing, number

HEALTHY_RING_RATIO = 0.80
"""All-reduce busbw of a healthy ring reaches about 80% of the link ceiling (docs/formulas.md)."""
GOOD_EFFICIENCY = 0.90
"""Scaling efficiency at or above this passes; below it is a warning to look at."""


@dataclass
class Verdict:
    level: str
    """pass | warn | fail | info."""
    text: str


@dataclass
class Headline:
    efficiency: list[dict] = field(default_factory=list)
    """Per training curve, its largest successful world size: workload, preset, precision,
    scaling, world_size, efficiency, samples_per_s."""
    busbw: dict | None = None
    """all_reduce at the largest world size and size: world_size, size_bytes, dtype,
    busbw_gbps, ceiling_gbps, ratio, link_class, note (why a figure is n/a)."""
    verdicts: list[Verdict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return json_safe(asdict(self))


def headline(
    manifest: dict,
    collectives: pd.DataFrame,
    training: pd.DataFrame,
    partial_reason: str | None = None,
) -> Headline:
    h = Headline()
    h.efficiency = _efficiency(training)
    h.busbw = _busbw(manifest, collectives)
    if partial_reason:
        h.verdicts.append(
            Verdict("fail", f"partial run ({partial_reason}): figures cover what was measured")
        )
    h.verdicts += _correctness(collectives)
    h.verdicts += _busbw_verdicts(h.busbw)
    h.verdicts += _training_verdicts(training, h.efficiency)
    return h


def _efficiency(training: pd.DataFrame) -> list[dict]:
    if training.empty or "efficiency" not in training:
        return []
    ok = training[training["status"] == "ok"]
    out = []
    keys = [k for k in ("workload", "preset", "precision", "scaling") if k in ok]
    for _, g in ok.groupby(keys, sort=True, dropna=False):
        top = g.loc[g["world_size"].idxmax()]
        out.append(
            {
                "workload": top["workload"],
                "preset": top.get("preset"),
                "precision": top.get("precision"),
                "scaling": top.get("scaling"),
                "world_size": int(top["world_size"]),
                "efficiency": number(top["efficiency"]),
                "samples_per_s": number(top.get("samples_per_s")),
            }
        )
    return out


def _busbw(manifest: dict, coll: pd.DataFrame) -> dict | None:
    ar = coll[coll["op"] == "all_reduce"] if not coll.empty else coll
    if ar.empty:
        return None
    n = int(ar["world_size"].max())
    at_n = ar[ar["world_size"] == n]
    dtype = "float32" if (at_n["dtype"] == "float32").any() else at_n["dtype"].iloc[0]
    at_n = at_n[at_n["dtype"] == dtype]
    row = at_n.loc[at_n["size_bytes"].idxmax()]
    out = {
        "world_size": n,
        "size_bytes": int(row["size_bytes"]),
        "dtype": dtype,
        "busbw_gbps": number(row["busbw_gbps"]),
        "ceiling_gbps": number(row.get("ceiling_gbps")),
        "ratio": number(row.get("busbw_ceiling_ratio")),
        "link_class": None if pd.isna(row.get("link_class")) else row.get("link_class"),
        "note": None,
    }
    if out["ratio"] is None and out["busbw_gbps"] is not None and out["ceiling_gbps"]:
        out["ratio"] = out["busbw_gbps"] / out["ceiling_gbps"]
    if n == 1:
        out["note"] = "busbw n/a at 1 rank: no data crosses a link"
    elif out["ceiling_gbps"] is None:
        cpu = manifest.get("device") == "cpu" or manifest.get("backend") == "gloo"
        out["note"] = "no ceiling: CPU/gloo" if cpu else "no ceiling: link class unknown"
    return out


def _correctness(coll: pd.DataFrame) -> list[Verdict]:
    if coll.empty:
        return []
    checked = coll[coll["wrong"].notna()]
    if checked.empty:
        return [Verdict("info", "collective results were not checked (--no-check)")]
    bad = checked[checked["wrong"] > 0]
    if bad.empty:
        return [Verdict("pass", f"all {len(checked)} checked collective points exact (#wrong 0)")]
    where = ", ".join(
        f"{r.op} {r.world_size} ranks {format_size(int(r.size_bytes))}{_on(r)}"
        for r in bad.head(3).itertuples()
    )
    more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    return [
        Verdict(
            "fail",
            f"{int(bad['wrong'].sum())} wrong elements in {len(bad)} collective points "
            f"({where}{more}): a rank computes or moves data wrongly",
        )
    ]


def _on(point) -> str:
    """' on rank 1' / ' on ranks 1 3': the ranks that had a wrong element, when recorded."""
    ranks = getattr(point, "wrong_ranks", None)
    if not isinstance(ranks, str) or not ranks.strip():
        return ""
    return f" on rank{'s' if ' ' in ranks.strip() else ''} {ranks.strip()}"


def _busbw_verdicts(b: dict | None) -> list[Verdict]:
    if not b or b["ratio"] is None:
        return []
    pct = f"{b['ratio']:.0%} of the {b['link_class'] or 'link'} ceiling"
    at = f"all_reduce busbw at {b['world_size']} ranks, {format_size(b['size_bytes'])}"
    healthy = f"a healthy ring reaches about {HEALTHY_RING_RATIO:.0%}"
    if b["ratio"] >= HEALTHY_RING_RATIO:
        return [Verdict("pass", f"{at} reaches {pct} ({healthy})")]
    return [
        Verdict(
            "warn",
            f"{at} reaches only {pct} ({healthy}); if the busbw curve "
            "is still rising at the largest size, sweep larger messages (-e)",
        )
    ]


def _training_verdicts(training: pd.DataFrame, eff: list[dict]) -> list[Verdict]:
    out = []
    for e in eff:
        if e["world_size"] == 1 or e["efficiency"] is None:
            continue
        label = (
            f"{e['workload']} {e['scaling'] or ''} scaling efficiency at {e['world_size']} ranks"
        )
        if e["efficiency"] >= GOOD_EFFICIENCY:
            out.append(Verdict("pass", f"{label}: {e['efficiency']:.0%}"))
        else:
            out.append(
                Verdict(
                    "warn",
                    f"{label}: {e['efficiency']:.0%}; see the step-time breakdown for "
                    "how much is exposed communication",
                )
            )
    if training.empty:
        return out
    for r in training.to_dict(orient="records"):
        at = f"{r['workload']} at {r['world_size']} ranks"
        if r.get("status") not in (None, "ok") and not missing(r.get("status")):
            batch = r.get("batch_per_rank")
            out.append(Verdict("fail", f"{at}: {r['status']} (batch {batch} per rank)"))
        if r.get("consistent") is False or str(r.get("consistent")).lower() == "false":
            out.append(
                Verdict("fail", f"{at}: parameters differ across ranks after training (checksum)")
            )
        ranks = rank_list(r.get("straggler_ranks"))
        if ranks:
            out.append(
                Verdict(
                    "warn",
                    f"{at}: straggler rank(s) {', '.join(map(str, ranks))} "
                    f"(compute time > {STRAGGLER_RATIO:.2f}x the median rank)",
                )
            )
    return out
