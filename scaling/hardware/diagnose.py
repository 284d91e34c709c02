"""Health checks on a snapshot: PASS / WARN / FAIL, each with what to do about it.

FAIL means results from this node would not be representative or the
hardware needs attention (a degraded link, a throttling or erroring GPU);
WARN means look at it (swap, a busy GPU, a judgement the snapshot cannot
make). Every check is one dict:

    {"check": "pcie_width", "status": "FAIL", "detail": "GPU2: x8 of max x16",
     "advice": "...", "gpus": [2]}

These judge one node's snapshot; hardware/across_nodes.py judges several nodes side by side
(the same versions, GPUs and topology everywhere) with the same check records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from scaling.config.units import format_bytes
from scaling.hardware.decode import CLOCK_EVENT_MEANING, decode_clock_events, problem_clock_events

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
_SEVERITY = {PASS: 0, WARN: 1, FAIL: 2}


def check(
    name: str, status: str, detail: str, advice: str = "", gpus: list[int] | None = None
) -> dict[str, Any]:
    return {"check": name, "status": status, "detail": detail, "advice": advice, "gpus": gpus or []}


def worst(checks: list[dict[str, Any]]) -> str:
    """The most severe status among checks (PASS when there are none)."""
    return max((c["status"] for c in checks), key=_SEVERITY.__getitem__, default=PASS)


def _known_int(*values: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


# --- host --------------------------------------------------------------------


def check_driver(snap: dict[str, Any]) -> dict[str, Any]:
    nvml = snap["nvml"]
    if not nvml["available"]:
        return check(
            "nvidia_driver",
            WARN,
            f"no GPU checks ran: {nvml['reason']}",
            "Nothing to do on a CPU-only machine (runs use gloo). On a GPU node, install or load "
            "the NVIDIA driver until `nvidia-smi` lists the GPUs.",
        )
    n = len(snap["gpus"])
    lost = nvml.get("lost_gpus") or []
    if lost:
        return check(
            "nvidia_driver",
            FAIL,
            "; ".join(f"GPU{g['index']}: {g['reason']}" for g in lost),
            "NVML cannot open this GPU (often Xid 79, 'fallen off the bus'): check `dmesg` for "
            "Xid errors; reset the GPU or reboot the node, then reseat or RMA if it recurs.",
            [g["index"] for g in lost],
        )
    if n == 0:
        return check(
            "nvidia_driver",
            WARN,
            f"driver {nvml['driver_version']} loaded but it reports no GPU",
            "Check that the GPUs are visible to this host or container (`nvidia-smi -L`).",
        )
    names = sorted({g["name"] for g in snap["gpus"]})
    return check(
        "nvidia_driver",
        PASS,
        f"driver {nvml['driver_version']}, CUDA {nvml['cuda_driver_version']}, {n}x {', '.join(names)}",
    )


def check_swap(snap: dict[str, Any]) -> dict[str, Any]:
    used = snap["host"].get("swap_used_bytes", "unknown")
    if not _known_int(used):
        return check("host_swap", WARN, "swap use unknown (/proc/meminfo unreadable)")
    if used > 0:
        return check(
            "host_swap",
            WARN,
            f"{format_bytes(used, 2)} of swap in use",
            "Swapping stalls the data loader and host-side collectives. Free memory (or lower "
            "workers/batch), then `swapoff -a && swapon -a` to pull pages back in.",
        )
    return check("host_swap", PASS, "no swap in use")


# --- per GPU -----------------------------------------------------------------


def _per_gpu(
    snap: dict[str, Any],
    name: str,
    judge: Callable[[dict[str, Any]], tuple[str, str] | None],
    advice: str,
    ok: str,
) -> dict[str, Any]:
    """Run judge on each GPU -> (status, detail) or None when fine; fold into one check."""
    found = [(g["index"], *verdict) for g in snap["gpus"] if (verdict := judge(g)) is not None]
    if not found:
        return check(name, PASS, ok)
    status = worst([{"status": s} for _, s, _ in found])
    return check(
        name,
        status,
        "; ".join(f"GPU{i}: {d}" for i, _, d in found),
        advice,
        [i for i, _, _ in found],
    )


def check_pcie_width(snap: dict[str, Any]) -> dict[str, Any]:
    # A x16 card in a slot wired x8 reports max x8 itself; identical peers with
    # a wider max are the only tell.
    peer_max: dict[str, int] = defaultdict(int)
    for g in snap["gpus"]:
        if _known_int(g["pcie"]["max_width"]):
            peer_max[g["name"]] = max(peer_max[g["name"]], g["pcie"]["max_width"])

    def judge(g: dict[str, Any]) -> tuple[str, str] | None:
        width, max_width = g["pcie"]["curr_width"], g["pcie"]["max_width"]
        if not _known_int(width, max_width):
            return WARN, f"width unknown ({g['unknown'].get('pcie.curr_width', 'not reported')})"
        if width < max_width:
            return FAIL, f"trained at x{width} of max x{max_width}"
        if max_width < peer_max[g["name"]]:
            return (
                WARN,
                f"slot allows only x{max_width}; identical GPUs here have x{peer_max[g['name']]}",
            )
        return None

    return _per_gpu(
        snap,
        "pcie_width",
        judge,
        "Host<->GPU and PCIe P2P bandwidth drop with the lane count. Usual causes: BIOS "
        "bifurcation for that slot set to x8x8, a riser or cable seated badly, or a slot wired "
        "x8. Check the BIOS slot setting, reseat the card/riser, compare `lspci -vv` LnkCap vs LnkSta.",
        "every GPU at its full PCIe width",
    )


def check_pcie_generation(snap: dict[str, Any]) -> dict[str, Any]:
    loaded = snap.get("load", {})

    def judge(g: dict[str, Any]) -> tuple[str, str] | None:
        p = g["pcie"]
        gen, max_gen, card_gen = p.get("curr_gen_under_load"), p["max_gen"], p["gpu_max_gen"]
        if not _known_int(max_gen):
            return WARN, "max generation unknown"
        if _known_int(card_gen) and card_gen > max_gen:
            return WARN, f"card supports Gen{card_gen}, the slot/platform only Gen{max_gen}"
        if _known_int(gen):
            return (FAIL, f"Gen{gen} under load, max Gen{max_gen}") if gen < max_gen else None
        if _known_int(p["curr_gen"]) and p["curr_gen"] >= max_gen:
            return None  # already at max while idle: nothing left to judge
        why = loaded.get("reason") or "snapshot taken at idle"
        return WARN, f"Gen{p['curr_gen']} at idle, max Gen{max_gen}; not judged ({why})"

    return _per_gpu(
        snap,
        "pcie_generation",
        judge,
        "Links down-train at idle, so only a generation measured under load counts "
        "(`scaling doctor` loads the GPUs when CUDA is available). Below max under load: the BIOS "
        "slot speed is forced lower, or a riser/retimer cannot hold the rate. Set the slot to "
        "its full generation in the BIOS, reseat or replace the riser.",
        "every GPU at its max PCIe generation"
        + (" under load" if loaded.get("ran") else " (already at max while idle)"),
    )


def check_clocks(snap: dict[str, Any]) -> dict[str, Any]:
    def judge(g: dict[str, Any]) -> tuple[str, str] | None:
        mask = g["clock_events"]["mask"]
        if not _known_int(mask):
            return WARN, "clock-event reasons unknown"
        bad = problem_clock_events(mask)
        if not bad:
            return None
        clocks = g["clocks_mhz"]
        status = FAIL if set(bad) - {"sw_thermal_slowdown"} else WARN
        return status, (
            f"{', '.join(CLOCK_EVENT_MEANING[b] for b in bad)}; {g['temperature_c']} C, "
            f"SM {clocks['sm']} of {clocks['sm_max']} MHz, power {g['power_w']['usage']} of "
            f"{g['power_w']['limit']} W"
        )

    active = sorted(
        {
            e
            for g in snap["gpus"]
            if _known_int(m := g["clock_events"]["mask"])
            for e in decode_clock_events(m)
        }
    )
    return _per_gpu(
        snap,
        "clock_events",
        judge,
        "The GPU runs below its clocks: every number from it (and from any group it is in) is "
        "low. Check inlet temperature, fans and airflow, and the PSU/power brake signal "
        "(`nvidia-smi -q -d PERFORMANCE,TEMPERATURE`); do not benchmark until it clears.",
        "no thermal, HW slowdown or power-brake events"
        + (f" (active, harmless: {', '.join(active)})" if active else ""),
    )


def check_nvlink(snap: dict[str, Any]) -> dict[str, Any]:
    def judge(g: dict[str, Any]) -> tuple[str, str] | None:
        links = g["nvlink"]
        if not isinstance(links, list):
            return WARN, "NVLink state unknown"
        down = [link["link"] for link in links if not link["active"]]
        if not down:
            return None
        if len(down) == len(links):
            return WARN, f"all {len(links)} NVLinks inactive (no bridge or fabric not up?)"
        return (
            FAIL,
            f"link {', '.join(map(str, down))} inactive ({len(links) - len(down)}/{len(links)} active)",
        )

    any_links = any(isinstance(g["nvlink"], list) and g["nvlink"] for g in snap["gpus"])
    return _per_gpu(
        snap,
        "nvlink",
        judge,
        "An inactive link cuts the GPU's NVLink bandwidth and with it every collective's busbw. "
        "Check `nvidia-smi nvlink -s`; on NVSwitch systems that nvidia-fabricmanager runs; "
        "reseat NVLink bridges. A baseboard link that stays down needs the vendor.",
        "all NVLinks active" if any_links else "no NVLink on these GPUs (PCIe only)",
    )


def check_ecc(snap: dict[str, Any]) -> dict[str, Any]:
    def judge(g: dict[str, Any]) -> tuple[str, str] | None:
        ecc = g["ecc"]
        vol, agg = ecc["uncorrected_volatile"], ecc["uncorrected_aggregate"]
        if _known_int(vol) and vol > 0:
            return FAIL, f"{vol} uncorrected ECC errors since the last driver load"
        if _known_int(agg) and agg > 0:
            return WARN, f"{agg} uncorrected ECC errors in the GPU's lifetime"
        return None

    return _per_gpu(
        snap,
        "ecc",
        judge,
        "Uncorrected errors can corrupt results and kill jobs. Drain the GPU, reset it "
        "(`nvidia-smi -r`), run `dcgmi diag -r 3`; recurring errors mean an RMA.",
        "no uncorrected ECC errors (or ECC not reported)",
    )


def check_row_remapping(snap: dict[str, Any]) -> dict[str, Any]:
    def judge(g: dict[str, Any]) -> tuple[str, str] | None:
        rows = g["remapped_rows"]
        if isinstance(rows, dict):
            if rows["failure"]:
                return FAIL, "row remapping failed (no spare rows left)"
            if rows["pending"]:
                return WARN, f"row remap pending ({rows['uncorrectable']} uncorrectable rows)"
        if g["retired_pages_pending"] is True:
            return WARN, "page retirement pending"
        return None

    return _per_gpu(
        snap,
        "row_remapping",
        judge,
        "A pending remap applies at the next GPU reset: drain the GPU and reset it "
        "(`nvidia-smi -r`). A remapping failure means the memory is out of spares: RMA.",
        "no pending row remaps or page retirements",
    )


def check_memory_in_use(snap: dict[str, Any]) -> dict[str, Any]:
    def judge(g: dict[str, Any]) -> tuple[str, str] | None:
        procs = g["processes"]
        if isinstance(procs, list):
            others = [p for p in procs if not p["self"]]
            if not others:
                return None
            held = [
                f"pid {p['pid']}"
                + (f" holds {format_bytes(p['used_bytes'], 1)}" if p["used_bytes"] else "")
                for p in others
            ]
            return WARN, ", ".join(held)
        used, total = g["memory"]["used_bytes"], g["memory"]["total_bytes"]
        if _known_int(used, total) and used > 0.1 * total:
            return (
                WARN,
                f"{format_bytes(used, 1)} of {format_bytes(total, 1)} in use (processes not visible)",
            )
        return None

    return _per_gpu(
        snap,
        "gpu_memory_in_use",
        judge,
        "Another process shares the GPU: timings will be slow and noisy and large sizes may run "
        "out of memory. Stop it (`nvidia-smi` lists it) or run on free GPUs.",
        "no other process on the GPUs",
    )


def check_nvml_errors(snap: dict[str, Any]) -> dict[str, Any]:
    def judge(g: dict[str, Any]) -> tuple[str, str] | None:
        errors = {k: v for k, v in g["unknown"].items() if v.startswith("error:")}
        if not errors:
            return None
        return FAIL, "; ".join(f"{k} {v}" for k, v in sorted(errors.items()))

    return _per_gpu(
        snap,
        "nvml_errors",
        judge,
        "NVML failed on queries it should answer (e.g. 'GPU is lost'): check `dmesg` for Xid "
        "errors; the GPU likely needs a reset or the node a reboot.",
        "NVML answered every query (unsupported fields aside)",
    )


GPU_CHECKS = (
    check_pcie_width,
    check_pcie_generation,
    check_nvlink,
    check_clocks,
    check_ecc,
    check_row_remapping,
    check_memory_in_use,
    check_nvml_errors,
)


def diagnose(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """Every health check of one node's snapshot, host checks first."""
    checks = [check_driver(snapshot), check_swap(snapshot)]
    if snapshot["gpus"]:
        checks += [c(snapshot) for c in GPU_CHECKS]
    return checks
