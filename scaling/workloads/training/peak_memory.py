"""Memory of one training point on a rank: its peak, and whether a failure was running out.

On CUDA the caching allocator's peak; on CPU the process's peak resident set (VmHWM), reset
at the start of each point. An out-of-memory point is recorded as "oom", never a crash.
"""

from __future__ import annotations

import contextlib
import re

import torch


def is_oom(e: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or an allocator's RuntimeError saying the same (CPU included)."""
    if isinstance(e, torch.cuda.OutOfMemoryError):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


def reset_peak(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        return
    # Writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0).
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def peak(device: str) -> dict:
    """Peak memory of this point: CUDA allocator peak, or the process's peak RSS on CPU."""
    if device == "cuda":
        return {"peak_mem_bytes": int(torch.cuda.max_memory_allocated()), "mem_kind": "cuda"}
    try:
        with open("/proc/self/status") as fh:
            m = re.search(r"^VmHWM:\s+(\d+)\s+kB", fh.read(), re.MULTILINE)
        if m:
            return {"peak_mem_bytes": int(m.group(1)) * 1024, "mem_kind": "rss"}
    except OSError:
        pass
    import resource  # no /proc: the peak over the process's life, not this point alone

    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_mem_bytes": int(kib) * 1024, "mem_kind": "rss_lifetime"}
