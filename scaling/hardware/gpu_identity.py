"""Which physical GPU a rank holds, in the terms NVML and the topology use.

CUDA numbers devices by CUDA_VISIBLE_DEVICES order (ordinals, or UUIDs), NVML by PCI order:
an index read from one can name another GPU in the other. A UUID or a PCI bus id cannot.
These read torch's view of the device; they import torch only when called.
"""

from __future__ import annotations

import os


def pci_bus_id(props) -> str | None:
    """torch's device properties as NVML writes a PCI bus id: 00000000:18:00.0."""
    # torch exposes domain/bus/device separately.
    try:
        return f"{props.pci_domain_id:08X}:{props.pci_bus_id:02X}:{props.pci_device_id:02X}.0"
    except AttributeError:
        return None


def nvml_key(device: str) -> int | str | None:
    """How NVML should find this rank's current GPU: its UUID (unambiguous), else an index;
    None off CUDA."""
    if device != "cuda":
        return None
    import torch

    uuid = getattr(torch.cuda.get_device_properties(torch.cuda.current_device()), "uuid", None)
    if uuid:
        return str(uuid)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return int(visible) if visible.isdigit() else torch.cuda.current_device()
