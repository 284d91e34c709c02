"""A validation's records -> its result: every judge, fed from what samples.jsonl holds.

    from scaling.collector.validate.assemble import assemble
    result = assemble(records, cfg.validate, created=utc_now())   # a ValidateResult

The driver (scaling/validate/) writes every rank's raw result as a record, and for a rank
or node that gave none, a record with the error that says why; it adds who each rank is
("rank"), each node's links ("node"), each node's hardware snapshot ("snapshot"), the
storage and ASPM readings, the inter-node reference and the localisation's steps. Nothing
here measures or talks to Ray, so the same records judge again with other thresholds, and
tests feed it records by hand.
"""

from __future__ import annotations

import copy
from collections import defaultdict

from scaling.collector.validate import checks
from scaling.collector.validate.codes import FAIL
from scaling.collector.validate.health import (
    across_verdicts,
    doctor_verdicts,
    mark_own,
    planted,
    unreadable,
)
from scaling.collector.validate.internode import localization_verdicts
from scaling.collector.validate.localize import Localization
from scaling.collector.validate.outliers import Sample
from scaling.collector.validate.records import (
    busbw_rounds,
    by_check,
    rounds_of,
    value_of,
    wrong_elements,
)
from scaling.collector.validate.sdc_compare import DigestSample, judge_sdc
from scaling.collector.validate.verdicts import ValidateResult, Verdict, missing
from scaling.config import allreduce_bars
from scaling.config.validate import ValidateConfig, describe
from scaling.hardware.across_nodes import compare_nodes
from scaling.hardware.diagnose import diagnose
from scaling.hardware.ib_health import NAME as IB_NAME
from scaling.hardware.ib_health import NOT_FOUND as IB_NOT_FOUND
from scaling.hardware.ib_health import check_ib_ports


def assemble(records: list[dict], cfg: ValidateConfig, created: str = "") -> ValidateResult:
    recs = by_check(records)
    ranks = {r["rank"]: r for r in recs["rank"]}
    nodes = sorted(recs["node"], key=lambda n: n["node_index"])
    notes = [n["text"] for n in recs["note"]]
    verdicts = (
        _per_rank(recs, ranks, cfg, notes)
        + judge_sdc([_digests(r, ranks) for r in _sorted(recs["sdc"])])
        + checks.judge_p2p([_matrix(n, recs["p2p"], ranks) for n in nodes if _has_pairs(n, recs["p2p"])], cfg)
        + checks.judge_p2p([_matrix(n, recs["peer_copy"], ranks) for n in nodes
                            if _has_pairs(n, recs["peer_copy"])], cfg, "peer_copy")
        + _allreduce(nodes, recs["allreduce"], cfg)
        + _with_method(checks.judge_storage([_storage(r) for r in recs["storage"]], cfg))
        + [checks.judge_aspm(r["node"], r["gpu"], r.get("uuid"), r.get("state")) for r in recs["pcie_aspm"]]
        + _doctor(recs, nodes, ranks, notes)
        + planted(recs["faults"], ranks)
    )  # fmt: skip
    loc = recs["localization"][-1]["localization"] if recs["localization"] else None
    if loc is not None:
        verdicts += localization_verdicts(Localization.from_dict(loc))
    cpu_nodes = {n["node"] for n in nodes if n.get("device") == "cpu"}
    for v in verdicts:
        if v.node in cpu_nodes and v.gpu is not None:
            v.device = "cpu"
    return ValidateResult(
        verdicts,
        thresholds=_thresholds(cfg, ranks, nodes, recs),
        nodes=[
            {
                "hostname": n["node"],
                "node_id": n.get("node_id"),
                "device": n.get("device"),
                "gpus": [_gpu(ranks[r]) for r in n["members"] if r in ranks],
                # each GPU's nearest NIC port, and ports no rank reaches (docs/validate-fabric.md)
                "rails": n.get("rails") or [],
                "rails_unreached": n.get("rails_unreached") or [],
            }
            for n in nodes
        ],  # fmt: skip
        localization=None if loc is None else {**loc, **_reference(recs)},
        created=created,
        notes=notes,
    )


def _sorted(items: list[dict]) -> list[dict]:
    return sorted(items, key=lambda r: (r.get("rank") is None, r.get("rank") or 0))


def _gpu(ident: dict) -> dict:
    return {"index": ident.get("gpu"), "uuid": ident.get("uuid"), "model": ident.get("model"),
            "rank": ident.get("rank")}  # fmt: skip


def _model(r: dict, ranks: dict) -> str | None:
    return r.get("device_name") or ranks.get(r.get("rank"), {}).get("model") or r.get("model")


def _sample(r: dict, ranks: dict, **extra) -> Sample:
    rounds = [] if r.get("error") else rounds_of(r)
    keep = ("size", "precision", "bytes", "health", "at_once", "sharers")
    return Sample(
        node=r["node"], value=value_of(rounds), gpu=r.get("gpu"), uuid=r.get("uuid"),
        model=_model(r, ranks), error=r.get("error") or (None if rounds else "no timings came back"),
        rounds=rounds, details={k: r[k] for k in keep if r.get(k) is not None}, **extra,
    )  # fmt: skip


def _per_rank(recs, ranks: dict, cfg: ValidateConfig, notes: list[str]) -> list[Verdict]:
    """GEMM, memory bandwidth and host copies: one sample per rank each."""
    out = []
    for check in ("gemm", "membw", "h2d", "d2h", "h2d_all", "d2h_all"):
        items = _sorted(recs[check])
        skipped = sorted({r["skipped"] for r in items if r.get("skipped")})
        notes += [f"{check}: not run ({why})" for why in skipped]
        items = [r for r in items if not r.get("skipped")]
        if check == "gemm":
            by_precision = defaultdict(list)
            for r in items:
                by_precision[r.get("precision") or "fp32"].append(_sample(r, ranks))
            for precision, samples in by_precision.items():
                out += checks.judge_gemm(samples, precision, cfg)
        elif check == "membw":
            out += checks.judge_membw([_sample(r, ranks) for r in items], cfg)
        else:
            samples = [_copy_sample(check, r, ranks) for r in items]
            out += checks.judge_transfer(check, samples, cfg)
    return out


def _copy_sample(check: str, r: dict, ranks: dict) -> Sample:
    """A host copy against its link: alone, the GPU's PCIe ceiling; all at once, its share of
    the switch uplink (the ceiling over the GPUs behind the switch; unknown: not judged)."""
    who = ranks.get(r["rank"], {})
    ceiling, label = who.get("pcie_ceiling_gbps"), who.get("pcie_label") or ""
    if check.endswith("_all"):
        k = r.get("sharers")
        ceiling = ceiling / k if ceiling and k else None
        label = f"{label} shared by {k} GPU(s) behind one switch" if k else label
    return _sample(r, ranks, ceiling=ceiling, ceiling_label=label)


def _digests(r: dict, ranks: dict) -> DigestSample:
    found = list(r.get("digests") or []) + list((r.get("burn") or {}).get("differing") or [])
    return DigestSample(r["node"], r.get("gpu"), found or None, r.get("uuid"), _model(r, ranks),
                        r.get("error"), r.get("duration_s"), r.get("stack"))  # fmt: skip


def _has_pairs(node: dict, items: list[dict]) -> bool:
    return any(r["node"] == node["node"] and not r.get("skipped") for r in items)


def _matrix(node: dict, items: list[dict], ranks: dict) -> checks.NodeMatrix:
    """The node's GPU-pair matrix: matrix[i][j] = GB/s from its i-th rank to its j-th."""
    members = [r for r in node["members"] if r in ranks]
    pos = {r: i for i, r in enumerate(members)}
    k = len(members)
    matrix: list[list[float | None]] = [[None] * k for _ in range(k)]
    errors, staged, size = {}, set(), None
    for r in items:
        peer = r.get("peer_rank", (r.get("peer_who") or {}).get("rank"))
        if r["node"] != node["node"] or r["rank"] not in pos or peer not in pos:
            continue
        i, j = pos[r["rank"]], pos[peer]
        matrix[i][j] = None if r.get("error") else value_of(rounds_of(r))
        size = size or r.get("bytes")
        if r.get("error"):
            errors[(i, j)] = r["error"]
        if r.get("peer_access") is False:
            staged.add((i, j))
    return checks.NodeMatrix(node["node"], matrix, [_gpu(ranks[r]) for r in members],
                             node.get("link_class"), errors, size, staged)  # fmt: skip


def _allreduce(nodes: list[dict], items: list[dict], cfg: ValidateConfig) -> list[Verdict]:
    """Each node's all-rank all_reduce: busbw from the slowest member per iteration."""
    groups = defaultdict(list)
    for r in items:
        groups[r["node"]].append(r)
    samples, wrong = [], []
    for n in nodes:
        members = groups.get(n["node"])
        if not members:
            continue
        errors = sorted({str(m["error"]) for m in members if m.get("error")})
        rounds = [] if errors else busbw_rounds(members)
        samples.append(Sample(
            node=n["node"], value=value_of(rounds), model=n.get("model"), rounds=rounds,
            error="; ".join(errors) or (None if rounds else "no timings came back"),
            ceiling=n.get("allreduce_ceiling_gbps"), ceiling_label=n.get("allreduce_link") or "",
            details={"ranks": len(members), "transport": n.get("transport"),
                     "size_bytes": members[0].get("size_bytes"), "link": n.get("allreduce_why")},
        ))  # fmt: skip
        bad = None if errors else wrong_elements(members)
        if bad:
            wrong.append(Verdict(check="allreduce", verdict=FAIL, scope="node", node=n["node"],
                                 code="COMM_WRONG_RESULT", value=float(bad), unit="elements",
                                 evidence=f"{bad} wrong elements in the node's all_reduce result"))  # fmt: skip
    per_node = {n["node"]: len(n["members"]) for n in nodes}
    return checks.judge_allreduce(samples, cfg, per_node) + wrong


def _storage(r: dict) -> Sample:
    keep = ("method", "filesystem", "bytes", "seconds", "path")
    return Sample(node=r["node"], value=r.get("gbps"), error=r.get("error"),
                  details={k: r[k] for k in keep if r.get(k) is not None})  # fmt: skip


def _with_method(verdicts: list[Verdict]) -> list[Verdict]:
    """How the storage was read belongs in the evidence: a tmpfs figure is memory speed."""
    for v in verdicts:
        if v.details.get("method"):
            fs = v.details.get("filesystem") or "an unknown filesystem"
            v.evidence += f"; read with {v.details['method']} on {fs} ({v.details.get('path')})"
    return verdicts


def _strip(uuid) -> str:
    return str(uuid or "").removeprefix("GPU-")


def under_load(snapshot: dict, healths: dict[str, dict]) -> dict:
    """A copy of a node's snapshot with what NVML read under validate's load: every clock
    event seen, the hottest temperature, the highest PCIe generation (doctor judges those)."""
    snap = copy.deepcopy(snapshot)
    loaded = False
    for g in snap.get("gpus", []):
        h = healths.get(_strip(g.get("uuid")))
        if not h or not h.get("available"):
            continue
        if h.get("clock_events") is not None:
            g["clock_events"] = {"mask": h["clock_events"], "api": "sampled under load"}
        if h.get("temperature_max_c") is not None:
            g["temperature_c"] = h["temperature_max_c"]
        if h.get("pcie_gen_max") is not None:
            g["pcie"]["curr_gen_under_load"] = h["pcie_gen_max"]
            loaded = True
    if loaded:
        snap["load"] = {"requested": True, "ran": True, "reason": None,
                        "seconds": None, "by": "scaling validate's GEMM"}  # fmt: skip
    return snap


def _doctor(recs, nodes: list[dict], ranks: dict, notes: list[str]) -> list[Verdict]:
    """Everything `scaling doctor` checks, on each node's snapshot judged under load; on a
    CUDA node, health data NVML could not read is NO_MEASUREMENT, and the gang's own rank
    processes are not "another process"; the InfiniBand/RoCE ports against their peers."""
    cuda = {n["node"] for n in nodes if n.get("device") == "cuda"}
    pids = defaultdict(set)
    for r in ranks.values():
        if r.get("pid") is not None:
            pids[r["node"]].add(r["pid"])
    healths = {}
    for r in recs["gemm"] + recs["sdc"]:
        h = (r.get("burn") or {}).get("health") or r.get("health")
        if h and h.get("available") and r.get("uuid"):
            healths[_strip(r["uuid"])] = h  # the burn (later, longer) wins over the GEMM
    out, snaps = [], {}
    for r in recs["snapshot"]:
        if r.get("error") or not r.get("snapshot"):
            base = dict(check="doctor", scope="node", node=r["node"])
            out.append(missing(base, r.get("error") or "no snapshot"))
            continue
        snaps[r["node"]] = mark_own(under_load(r["snapshot"], healths), pids[r["node"]])
        out += doctor_verdicts(r["node"], diagnose(snaps[r["node"]]))
        if r["node"] in cuda:
            out += unreadable(r["node"], snaps[r["node"]])
    transports: dict[str, str] = {}  # inside the node, then across nodes
    for r in recs["transport"]:
        transports[r["node"]] = ", ".join(
            filter(None, (transports.get(r["node"]), r.get("transport")))
        )
    ib = {n: check_ib_ports(s, snaps, transports.get(n)) for n, s in snaps.items()}
    for node, found in ib.items():
        out += doctor_verdicts(node, [found] if found else [])
    if snaps and not any(ib.values()):
        notes.append(f"{IB_NAME}: not run ({IB_NOT_FOUND} on any node)")
    return out + across_verdicts(list(snaps), compare_nodes(snaps))


def _reference(recs) -> dict:
    ref = recs["inter_node_reference"]
    return {"bar": ref[-1].get("bar"), "reference": ref[-1].get("reference")} if ref else {}


def _thresholds(cfg: ValidateConfig, ranks: dict, nodes: list[dict], recs) -> dict:
    models = {}
    for n in nodes:
        for r in n["members"]:
            model = ranks.get(r, {}).get("model")
            if model:
                models[model] = max(models.get(model, 0), len(n["members"]))
    out = describe(cfg, models)
    for model, bars in out["by_model"].items():  # the HBM bar is the collector's (hardware/hbm.py)
        bars["membw_min_gbps"] = checks.membw_threshold(cfg, model).to_dict()
    out["allreduce_bars"] = allreduce_bars.table()  # the node all_reduce bar by message size
    ref = _reference(recs)
    if ref.get("bar"):
        out["inter_node"] = ref["bar"]
    return out
