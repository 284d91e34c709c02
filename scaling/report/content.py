"""What a report says, section by section, built from a loaded run (no numbers computed here).

Sections: headline, environment, training scaling, step-time breakdown, stragglers,
collectives, topology, the collectives detail and communicator start-up. Each plot has its
table right below it.
"""

from __future__ import annotations

from collections import Counter

from scaling import format as f
from scaling.collector.loaded_run import Run
from scaling.report import collectives, plots, startup, training
from scaling.report import predict as prediction
from scaling.report import tune as tuning
from scaling.report import validate as validation
from scaling.report.document import Document, Items, Section, Table, Text

SYNTHETIC = "synthetic (generated on the device: measures the step, not an input pipeline)"


def build(run: Run) -> Document:
    m = run.manifest
    if m.get("kind") == "validate":
        return validation_document(run)
    if m.get("kind") == "tune":
        return tune_document(run)
    title = f"Scaling report: {run.name}"
    when = m.get("started") or "start unknown"
    subtitle = (
        f"{when} · status {m.get('status', 'unknown')} · {m.get('device', '?')}/"
        f"{m.get('backend', '?')} · world sizes {_world_sizes(run)}"
    )
    banner = None
    if run.partial:
        banner = (
            f"PARTIAL RUN ({run.partial_reason}). This report shows what was measured "
            "before the run stopped; missing points are not failures of the hardware."
        )
    sections = [
        headline_section(run),
        environment_section(run),
        training.scaling_section(run),
        training.breakdown_section(run),
        training.straggler_section(run),
        collectives.busbw_section(run),
        collectives.topology_section(run),
        collectives.detail_section(run),
    ]
    sections += _startup(run)
    predicted = prediction.section(run.path)  # only once `scaling predict` wrote predict.json
    if predicted is not None:
        sections.insert(3, predicted)
    validated = validation.section(run.path)  # only once `scaling validate` wrote validate.json
    if validated is not None:
        sections.insert(1, validated)
    return Document(title, subtitle, banner, sections)


def validation_document(run: Run) -> Document:
    """A `scaling validate` run: its verdicts first, then where and on what it ran."""
    m = run.manifest
    # "status ok" read as a verdict above a FAIL: the run's status says it completed; the
    # verdict is the result's.
    status = m.get("status", "unknown")
    ended = "completed" if status == "ok" else f"status {status}"
    verdict = (m.get("result") or {}).get("status") if isinstance(m.get("result"), dict) else None
    subtitle = (
        f"{m.get('started') or 'start unknown'} · level {m.get('level', '?')} · {ended}"
        f"{f' · verdict {verdict}' if verdict else ''} · {m.get('device', '?')}/"
        f"{m.get('backend', '?')}"
    )
    banner = None
    if run.partial:
        banner = f"PARTIAL VALIDATION ({run.partial_reason}): see the verdicts for what is missing."
    sections = [validation.section(run.path) or validation.document(run.path).sections[0]]
    return Document(f"Validation report: {run.name}", subtitle, banner,
                    sections + [environment_section(run)] + _startup(run))  # fmt: skip


def tune_document(run: Run) -> Document:
    """A `scaling tune` run: the ranked candidates and the halving rounds, then where it ran."""
    m = run.manifest
    subtitle = (
        f"{m.get('started') or 'start unknown'} · {m.get('workload', '?')} at world size "
        f"{m.get('world_size', '?')} · status {m.get('status', 'unknown')} · "
        f"{m.get('device', '?')}/{m.get('backend', '?')}"
    )
    banner = None
    if run.partial:
        banner = f"PARTIAL TUNE ({run.partial_reason}): the trials measured are in samples.jsonl."
    found = tuning.section(run.path)
    if found is None:
        found = Section("Tuned parallel strategy", "tune")
        found.blocks.append(Text("No tune.json: the search did not finish.", "note"))
    return Document(f"Tune report: {run.name}", subtitle, banner,
                    [found, environment_section(run)] + _startup(run))  # fmt: skip


def _startup(run: Run) -> list[Section]:
    found = startup.section(run)
    return [found] if found is not None else []


def _world_sizes(run: Run) -> str:
    sizes = set(run.collectives.get("world_size", [])) | set(run.training.get("world_size", []))
    sizes = sizes or set(m for m in run.manifest.get("config", {}).get("gpus", []))
    return ", ".join(str(int(s)) for s in sorted(sizes)) or "none"


# -- headline -------------------------------------------------------------------------------


def headline_section(run: Run) -> Section:
    h = run.headline
    s = Section("Headline", "headline")
    figures: list[tuple[str, str]] = []
    for e in h.efficiency:
        label = plots.curve_label(e)
        if e["world_size"] == 1:
            value = f.na("only 1 rank measured")
        else:
            value = f.pct(e["efficiency"], why="no 1-rank point")
        figures.append(("", f"**{label}**: scaling efficiency at {e['world_size']} ranks {value}"))
    if not h.efficiency:
        figures.append(("", "No training workloads in this run (collectives only)."))
    b = h.busbw
    if b:
        at = f"all_reduce {b['dtype']} busbw at {b['world_size']} ranks, {f.size(b['size_bytes'])}"
        value = f.num(b["busbw_gbps"], 2, why="1 rank") + " GB/s"
        if b["world_size"] == 1:
            value = f.na("1 rank: no data crosses a link")
        if b["ratio"] is not None:
            ceiling = f"{f.pct(b['ratio'], 0)} of the {b['link_class'] or 'link'} ceiling "
            ceiling += f"({f.num(b['ceiling_gbps'], 1)} GB/s)"
        else:
            ceiling = b["note"] or "no ceiling"
        figures.append(("", f"**{at}**: {value}; {ceiling}"))
    else:
        figures.append(("", "No all_reduce measured."))
    s.blocks.append(Items(figures))
    if h.verdicts:
        s.blocks.append(Text("Verdicts", kind="h3"))
        s.blocks.append(Items([(v.level, v.text) for v in h.verdicts]))
    if run.warnings or run.notices:
        s.blocks.append(Text("Warnings and notices", kind="h3"))
        items = [("warn", w) for w in run.warnings] + [("info", n) for n in run.notices]
        s.blocks.append(Items(items))
    return s


# -- environment ----------------------------------------------------------------------------


def environment_section(run: Run) -> Section:
    m = run.manifest
    ranks = m.get("ranks") or []
    cfg = m.get("config") or {}
    rows = [
        ["run directory", str(run.path)],
        ["status", _status(run)],
        [
            "started / ended",
            f"{m.get('started') or 'unknown'} / {m.get('ended') or 'not recorded'}",
        ],
        ["device / backend", f"{m.get('device', 'unknown')} / {m.get('backend', 'unknown')}"],
        ["nodes", _nodes(m)],
        ["GPUs", _gpus(ranks)],
        ["link classes", _links(run)],
        ["workloads", ", ".join(cfg.get("workloads") or []) or "unknown"],
        ["data", SYNTHETIC if m.get("synthetic_data") else "not recorded as synthetic"],
        ["preset", _presets(run)],
        ["collectives sweep", _sweep(cfg.get("collectives"))],
        ["versions", _versions(m, ranks)],
    ]
    if m.get("kind") == "validate":  # a validation sweeps nothing: its level says what ran
        rows = rows[:3] + [["level", str(m.get("level"))]] + rows[3:6] + rows[-1:]
    env = cfg.get("cluster", {}).get("env") or {}
    if env:
        rows.append(["rank environment", ", ".join(f"{k}={v}" for k, v in env.items())])
    return Section("Environment", "environment", [Table(["", ""], rows, align_left=2)])


def _status(run: Run) -> str:
    status = run.manifest.get("status", "unknown")
    return f"{status} (partial: {run.partial_reason})" if run.partial else status


def _nodes(m: dict) -> str:
    hosts = [r.get("hostname") or r.get("node_ip") for r in m.get("ranks") or []]
    hosts = list(dict.fromkeys(h for h in hosts if h))
    if not hosts:
        hosts = [n.get("NodeManagerHostname") for n in (m.get("ray") or {}).get("nodes", [])]
    if not hosts:
        return "unknown"
    shown = ", ".join(hosts[:8]) + (f", … ({len(hosts)} in all)" if len(hosts) > 8 else "")
    return f"{len(hosts)} ({shown})"


def _gpus(ranks: list[dict]) -> str:
    names = Counter(r.get("gpu_name") for r in ranks if r.get("gpu_name"))
    if not names:
        return f"none: {len(ranks)} CPU ranks" if ranks else "unknown"
    return ", ".join(f"{k} × {name}" for name, k in names.items())


def _links(run: Run) -> str:
    c = run.collectives
    if "link_class" in c and c["link_class"].notna().any():
        per_n = c.dropna(subset=["link_class"]).drop_duplicates("world_size")
        if (per_n["world_size"] > 1).any():
            per_n = per_n[per_n["world_size"] > 1]  # one rank uses no link
        parts = []
        for r in per_n.itertuples():
            ceiling = getattr(r, "ceiling_gbps", float("nan"))
            tail = "" if f.missing(ceiling) else f", ceiling {ceiling:g} GB/s"
            transport = getattr(r, "transport", None)
            if isinstance(transport, str) and transport != "single rank":
                tail += f", transport {transport}"
            parts.append(f"{r.world_size} ranks: {r.link_class}{tail}")
        return "; ".join(parts)
    if run.manifest.get("backend") == "gloo" or run.manifest.get("device") == "cpu":
        return "loopback (gloo): no link ceiling"
    return "unknown (no hardware probe recorded)"


def _presets(run: Run) -> str:
    t = run.training
    if not t.empty and "preset" in t:
        presets = [str(p) for p in dict.fromkeys(t["preset"].dropna())]
        if presets:
            return ", ".join(presets)
    # Nothing measured: the presets the run's workloads were configured with, if any.
    cfg = run.manifest.get("config") or {}
    configured = [
        f"{w} {(cfg.get(w) or {}).get('preset')} (configured)"
        for w in cfg.get("workloads") or []
        if isinstance(cfg.get(w), dict) and cfg[w].get("preset")
    ]
    return ", ".join(configured) or f.na("no training workload")


def _sweep(c: dict | None) -> str:
    if not c:
        return f.na("not run")
    return (
        f"{', '.join(c.get('ops', []))}; {', '.join(c.get('dtypes', []))}; "
        f"{f.size(c.get('min_bytes'))}…{f.size(c.get('max_bytes'))} ×{c.get('factor')}; "
        f"{c.get('warmup')} warmup + {c.get('iters')} timed iterations, {c.get('timing')} timing"
    )


def _versions(m: dict, ranks: list[dict]) -> str:
    parts = [f"scaling {(m.get('tool') or {}).get('version', '?')}"]
    for key in ("torch", "cuda", "nccl"):
        seen = list(dict.fromkeys(str(r.get(key)) for r in ranks if r.get(key)))
        if seen:
            mismatch = " (MISMATCH across ranks)" if len(seen) > 1 else ""
            parts.append(f"{key} {' / '.join(seen)}{mismatch}")
    if (m.get("ray") or {}).get("version"):
        parts.append(f"ray {m['ray']['version']}")
    host = m.get("host") or {}
    if host.get("python"):
        parts.append(f"python {host['python']}")
    if host.get("platform"):
        parts.append(host["platform"])
    return "; ".join(parts)
