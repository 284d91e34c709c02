"""Everything NVML says about this machine's GPUs. The only module that imports pynvml.

pynvml is the import name of nvidia-ml-py (the PyPI package named "pynvml" is a
deprecated wrapper). No library or no driver is a normal state on CPU
machines: `read_gpus()` then returns available=False and the reason.

Every query is wrapped: a field NVML cannot answer becomes "unknown", and the
reason lands in the GPU's "unknown" map ({"pcie.gpu_max_gen": "Not Supported"}),
so one missing counter never costs the rest of the snapshot.

This module reads the inventory (`read_gpus`, one snapshot); hardware/nvml_readers.py reads
one GPU again and again while a measurement runs (power, utilisation, clock events, PCIe
generation) and reaches pynvml through this module, so faking `nvml.pynvml` fakes both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from scaling.hardware.decode import (
    NVLINK_REMOTE_TYPE,
    P2P_STATUS,
    TOPOLOGY_LEVEL_LABEL,
    decode_nvlink_version,
)

try:
    import pynvml
except ImportError:  # nvidia-ml-py is a dependency, but a broken env should still probe the host
    pynvml = None

UNKNOWN = "unknown"

# Errors that mean "this GPU or driver cannot answer this one question". Anything
# else (GPU is lost, unknown error) is recorded with an "error: " prefix so the
# doctor can flag it.
_EXPECTED = ("NotSupported", "NoPermission", "FunctionNotFound", "InvalidArgument", "NoData")


def _reason(err: Exception) -> str:
    name = type(err).__name__.removeprefix("NVMLError_")
    return str(err) if name in _EXPECTED else f"error: {err}"


class _Fields:
    """Runs queries for one GPU and remembers why each unknown field is unknown."""

    def __init__(self) -> None:
        self.unknown: dict[str, str] = {}

    def get(self, field: str, query: Callable[..., Any], *args: Any) -> Any:
        try:
            return query(*args)
        except pynvml.NVMLError as e:
            self.unknown[field] = _reason(e)
        except AttributeError:  # an older nvidia-ml-py without this function
            self.unknown[field] = "not in this nvidia-ml-py"
        return UNKNOWN


def _scaled(value: Any, scale: float) -> Any:
    return UNKNOWN if value == UNKNOWN else round(value / scale, 1)


@contextmanager
def session() -> Iterator[None]:
    pynvml.nvmlInit()
    try:
        yield
    finally:
        pynvml.nvmlShutdown()


def init_failure() -> str | None:
    """None when NVML can be initialised here; else the plain-words reason."""
    if pynvml is None:
        return "nvidia-ml-py (pynvml) is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound:
        return "no NVIDIA driver: libnvidia-ml.so.1 not found"
    except pynvml.NVMLError_DriverNotLoaded:
        return "no NVIDIA driver loaded (the NVML library exists, the kernel driver is not loaded)"
    except pynvml.NVMLError as e:
        return f"NVML could not start: {e}"
    pynvml.nvmlShutdown()
    return None


def _cuda_version(code: Any) -> Any:
    # NVML encodes CUDA 12.4 as 12040.
    return UNKNOWN if code == UNKNOWN else f"{code // 1000}.{(code % 1000) // 10}"


def _bus_id(pci: Any) -> str:
    return str(pci.busId).upper()


def _bus_key(bus_id: Any) -> str:
    """'00000000:61:00.0' and '0000:61:00.0' name the same device: compare on this form."""
    domain, sep, rest = str(bus_id).partition(":")
    try:
        return f"{int(domain, 16):04x}:{rest}".lower() if sep else str(bus_id).lower()
    except ValueError:
        return str(bus_id).lower()


def _cpu_list(masks: Any) -> str:
    """NVML's array of 64-bit CPU masks -> '0-55,112-167' (the taskset notation)."""
    cpus = [w * 64 + b for w, word in enumerate(masks) for b in range(64) if word >> b & 1]
    ranges: list[str] = []
    for cpu in cpus:
        if ranges and cpu == int(ranges[-1].split("-")[-1]) + 1:
            ranges[-1] = f"{ranges[-1].split('-')[0]}-{cpu}"
        else:
            ranges.append(str(cpu))
    return ",".join(ranges)


def _sysfs_numa_node(bus_id: str) -> int | str:
    # NVML's GetNumaNodeId is recent; the kernel has always known the device's node.
    domain, rest = bus_id.lower().split(":", 1)
    path = f"/sys/bus/pci/devices/{domain[-4:]}:{rest}/numa_node"
    try:
        with open(path) as fh:
            node = int(fh.read().strip())
    except (OSError, ValueError):
        return UNKNOWN
    return node if node >= 0 else UNKNOWN


def _clock_events(f: _Fields, h: Any) -> dict[str, Any]:
    try:
        return {"mask": int(pynvml.nvmlDeviceGetCurrentClocksEventReasons(h)), "api": "events"}
    except (pynvml.NVMLError, AttributeError):
        pass  # drivers before 535 only have the deprecated name
    mask = f.get("clock_events", pynvml.nvmlDeviceGetCurrentClocksThrottleReasons, h)
    return {"mask": mask if mask == UNKNOWN else int(mask), "api": "throttle (deprecated)"}


def _nvlinks(f: _Fields, h: Any) -> list[dict[str, Any]] | str:
    links = []
    for link in range(pynvml.NVML_NVLINK_MAX_LINKS):
        try:
            active = bool(pynvml.nvmlDeviceGetNvLinkState(h, link))
        except pynvml.NVMLError_InvalidArgument:
            break  # past this device's real link count
        except pynvml.NVMLError_NotSupported:
            break  # a card without NVLink says so on link 0
        except pynvml.NVMLError as e:
            f.unknown[f"nvlink.{link}"] = _reason(e)
            return UNKNOWN
        lf = _Fields()
        version = lf.get("version", pynvml.nvmlDeviceGetNvLinkVersion, h, link)
        remote_type = lf.get("remote_type", pynvml.nvmlDeviceGetNvLinkRemoteDeviceType, h, link)
        remote_pci = lf.get("remote_bus_id", pynvml.nvmlDeviceGetNvLinkRemotePciInfo, h, link)
        for key, why in lf.unknown.items():
            f.unknown[f"nvlink.{link}.{key}"] = why
        links.append(
            {
                "link": link,
                "active": active,
                "version": version if version == UNKNOWN else decode_nvlink_version(version),
                "remote_type": NVLINK_REMOTE_TYPE.get(remote_type, UNKNOWN),
                "remote_bus_id": remote_pci if remote_pci == UNKNOWN else _bus_id(remote_pci),
            }
        )
    return links


def _processes(f: _Fields, h: Any) -> list[dict[str, Any]] | str:
    procs = f.get("processes", pynvml.nvmlDeviceGetComputeRunningProcesses, h)
    if procs == UNKNOWN:
        return UNKNOWN
    me = os.getpid()
    return [
        {
            "pid": p.pid,
            # None when the driver cannot attribute memory (e.g. under some hypervisors).
            "used_bytes": p.usedGpuMemory,
            "self": p.pid == me,
        }
        for p in procs
    ]


def _ecc(f: _Fields, h: Any) -> dict[str, Any]:
    mode = f.get("ecc.mode", pynvml.nvmlDeviceGetEccMode, h)
    unc = pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
    return {
        "mode": UNKNOWN if mode == UNKNOWN else ("enabled" if mode[0] else "disabled"),
        "uncorrected_volatile": f.get(
            "ecc.uncorrected_volatile",
            pynvml.nvmlDeviceGetTotalEccErrors,
            h,
            unc,
            pynvml.NVML_VOLATILE_ECC,
        ),
        "uncorrected_aggregate": f.get(
            "ecc.uncorrected_aggregate",
            pynvml.nvmlDeviceGetTotalEccErrors,
            h,
            unc,
            pynvml.NVML_AGGREGATE_ECC,
        ),
    }


def _row_remapping(f: _Fields, h: Any) -> dict[str, Any] | str:
    # Ampere and later remap rows; earlier GPUs retire pages (below).
    rows = f.get("remapped_rows", pynvml.nvmlDeviceGetRemappedRows, h)
    if rows == UNKNOWN:
        return UNKNOWN
    corr, unc, pending, failure = rows
    return {
        "correctable": corr,
        "uncorrectable": unc,
        "pending": bool(pending),
        "failure": bool(failure),
    }


def _read_gpu(index: int, h: Any) -> dict[str, Any]:
    f = _Fields()
    pci = f.get("bus_id", pynvml.nvmlDeviceGetPciInfo, h)
    bus_id = UNKNOWN if pci == UNKNOWN else _bus_id(pci)
    mem = f.get("memory", pynvml.nvmlDeviceGetMemoryInfo, h)
    util = f.get("utilization", pynvml.nvmlDeviceGetUtilizationRates, h)
    numa = f.get("numa_node", pynvml.nvmlDeviceGetNumaNodeId, h)
    if numa == UNKNOWN and bus_id != UNKNOWN:
        numa = _sysfs_numa_node(bus_id)
    words = max(1, ((os.cpu_count() or 1) + 63) // 64)
    affinity = f.get("cpu_affinity", pynvml.nvmlDeviceGetCpuAffinity, h, words)
    pending_pages = f.get("retired_pages_pending", pynvml.nvmlDeviceGetRetiredPagesPendingStatus, h)
    gpu = {
        "index": index,
        "name": f.get("name", pynvml.nvmlDeviceGetName, h),
        "uuid": f.get("uuid", pynvml.nvmlDeviceGetUUID, h),
        "bus_id": bus_id,
        "memory": {
            "total_bytes": UNKNOWN if mem == UNKNOWN else mem.total,
            "used_bytes": UNKNOWN if mem == UNKNOWN else mem.used,
        },
        "processes": _processes(f, h),
        "pcie": {
            "curr_gen": f.get("pcie.curr_gen", pynvml.nvmlDeviceGetCurrPcieLinkGeneration, h),
            "max_gen": f.get("pcie.max_gen", pynvml.nvmlDeviceGetMaxPcieLinkGeneration, h),
            "gpu_max_gen": f.get(
                "pcie.gpu_max_gen", pynvml.nvmlDeviceGetGpuMaxPcieLinkGeneration, h
            ),
            "curr_width": f.get("pcie.curr_width", pynvml.nvmlDeviceGetCurrPcieLinkWidth, h),
            "max_width": f.get("pcie.max_width", pynvml.nvmlDeviceGetMaxPcieLinkWidth, h),
            # Filled by the probe's load mode: the highest generation seen while busy.
            "curr_gen_under_load": None,
        },
        "nvlink": _nvlinks(f, h),
        "clock_events": _clock_events(f, h),
        "clocks_mhz": {
            "sm": f.get("clocks.sm", pynvml.nvmlDeviceGetClockInfo, h, pynvml.NVML_CLOCK_SM),
            "sm_max": f.get(
                "clocks.sm_max", pynvml.nvmlDeviceGetMaxClockInfo, h, pynvml.NVML_CLOCK_SM
            ),
        },
        "temperature_c": f.get(
            "temperature", pynvml.nvmlDeviceGetTemperature, h, pynvml.NVML_TEMPERATURE_GPU
        ),
        "power_w": {
            # NVML reports mW; usage is a 1 s average on Ampere and later.
            "usage": _scaled(f.get("power.usage", pynvml.nvmlDeviceGetPowerUsage, h), 1000),
            "limit": _scaled(f.get("power.limit", pynvml.nvmlDeviceGetEnforcedPowerLimit, h), 1000),
        },
        "ecc": _ecc(f, h),
        "remapped_rows": _row_remapping(f, h),
        "retired_pages_pending": pending_pages if pending_pages == UNKNOWN else bool(pending_pages),
        "utilization_pct": {
            "gpu": UNKNOWN if util == UNKNOWN else util.gpu,
            "memory": UNKNOWN if util == UNKNOWN else util.memory,
        },
        "numa_node": numa,
        "cpu_affinity": affinity if affinity == UNKNOWN else _cpu_list(affinity),
    }
    gpu["unknown"] = f.unknown
    return gpu


def _pair_matrix(handles: list[Any], query: Callable[[Any, Any], str]) -> list[list[str]]:
    n = len(handles)
    return [["X" if i == j else query(handles[i], handles[j]) for j in range(n)] for i in range(n)]


def _p2p_read(a: Any, b: Any) -> str:
    try:
        # Index 0 is NVML_P2P_CAPS_INDEX_READ; nvidia-ml-py defines that constant
        # with a stray trailing comma (a tuple), so the literal is used.
        return P2P_STATUS.get(pynvml.nvmlDeviceGetP2PStatus(a, b, 0), UNKNOWN)
    except pynvml.NVMLError as e:
        return f"{UNKNOWN}: {_reason(e)}"


def _common_ancestor(a: Any, b: Any) -> str:
    try:
        return TOPOLOGY_LEVEL_LABEL.get(pynvml.nvmlDeviceGetTopologyCommonAncestor(a, b), UNKNOWN)
    except pynvml.NVMLError as e:
        return f"{UNKNOWN}: {_reason(e)}"


def resolve_nvlink_remote(gpus: list[dict[str, Any]]) -> dict[str, Any]:
    """Where each GPU's active NVLinks go: to_gpu[i][j] links to GPU j, to_switch[i] to NVSwitches.

    Indexed by position in `gpus` (the NVML index unless NVML lost a GPU).

    NVML names the far end by PCI bus id, so the match to a GPU needs every
    GPU of the node. A far end that is no GPU here and whose type NVML cannot
    name (older drivers) counts as NVSwitch: on x86 nodes nothing else ends an
    NVLink. IBM NPUs (POWER9) count in to_other.
    """
    by_bus = {_bus_key(g["bus_id"]): pos for pos, g in enumerate(gpus)}
    n = len(gpus)
    to_gpu = [[0] * n for _ in range(n)]
    to_switch = [0] * n
    to_other = [0] * n
    for i, g in enumerate(gpus):
        links = g["nvlink"] if isinstance(g["nvlink"], list) else []
        for link in links:
            if not link["active"]:
                continue
            remote = by_bus.get(_bus_key(link["remote_bus_id"]))
            kind = link["remote_type"]
            if remote is not None and remote != i and kind in ("gpu", UNKNOWN):
                to_gpu[i][remote] += 1
            elif kind == "switch" or (kind == UNKNOWN and remote is None):
                to_switch[i] += 1
            else:
                to_other[i] += 1
    return {"to_gpu": to_gpu, "to_switch": to_switch, "to_other": to_other}


def read_gpus() -> dict[str, Any]:
    """The GPU part of a snapshot: {"nvml", "gpus", "p2p", "common_ancestor", "nvlink_remote"}."""
    failure = init_failure()
    if failure is not None:
        return {
            "nvml": {
                "available": False,
                "reason": failure,
                "driver_version": UNKNOWN,
                "cuda_driver_version": UNKNOWN,
                "lost_gpus": [],
            },
            "gpus": [],
            "p2p": [],
            "common_ancestor": [],
            "nvlink_remote": resolve_nvlink_remote([]),
        }
    with session():
        sys_fields = _Fields()
        driver = sys_fields.get("driver_version", pynvml.nvmlSystemGetDriverVersion)
        cuda = sys_fields.get("cuda_driver_version", pynvml.nvmlSystemGetCudaDriverVersion_v2)
        count = sys_fields.get("gpu_count", pynvml.nvmlDeviceGetCount)
        handles, indices, lost = [], [], []
        for i in range(0 if count == UNKNOWN else count):
            try:
                handles.append(pynvml.nvmlDeviceGetHandleByIndex(i))
                indices.append(i)
            except pynvml.NVMLError as e:
                # A GPU that fell off the bus ("GPU is lost") must not hide the others.
                lost.append({"index": i, "reason": _reason(e)})
        gpus = [_read_gpu(i, h) for i, h in zip(indices, handles, strict=True)]
        reason = None
        if count == UNKNOWN:
            reason = f"NVML cannot count GPUs: {sys_fields.unknown['gpu_count']}"
        elif not count:
            reason = "the NVIDIA driver is loaded but reports no GPU"
        return {
            "nvml": {
                "available": True,
                "reason": reason,
                "driver_version": driver,
                "cuda_driver_version": _cuda_version(cuda),
                "lost_gpus": lost,
            },
            "gpus": gpus,
            "p2p": _pair_matrix(handles, _p2p_read),
            "common_ancestor": _pair_matrix(handles, _common_ancestor),
            "nvlink_remote": resolve_nvlink_remote(gpus),
        }
