"""NVML readings of one GPU while a measurement runs: power, utilisation, clock-event
reasons, temperature, and the PCIe generation a link trains to under load.

The inventory (`read_gpus`) is hardware/nvml.py's; these are the readers a measurement holds
open (NVML initialised once per reader, so a reading is a query or two, not an init). pynvml
comes through scaling.hardware.nvml, still the one module that imports it.
"""

from __future__ import annotations

import threading
from contextlib import suppress
from typing import Any

from scaling.hardware import nvml


def sample_pcie_generation(stop: threading.Event, interval_s: float = 0.05) -> dict[int, int]:
    """Highest current PCIe generation per GPU index seen until `stop` is set.

    Links down-train at idle to save power, so the probe calls this while its
    load runs; the maximum over the window is the generation the link trains to.
    """
    best: dict[int, int] = {}
    if nvml.init_failure() is not None:
        return best
    with nvml.session():
        handles = {}
        try:
            for i in range(nvml.pynvml.nvmlDeviceGetCount()):
                with suppress(nvml.pynvml.NVMLError):
                    handles[i] = nvml.pynvml.nvmlDeviceGetHandleByIndex(i)
        except nvml.pynvml.NVMLError:
            return best
        while True:
            for i, h in handles.items():
                try:
                    gen = nvml.pynvml.nvmlDeviceGetCurrPcieLinkGeneration(h)
                except nvml.pynvml.NVMLError:
                    continue
                best[i] = max(gen, best.get(i, 0))
            if stop.wait(interval_s):
                return best


def _handle(gpu: int | str) -> Any:
    # A UUID is unambiguous; an index is NVML's (PCI) order, which can differ from
    # CUDA's enumeration when CUDA_DEVICE_ORDER is not PCI_BUS_ID.
    if isinstance(gpu, str):
        uuid = gpu if gpu.startswith(("GPU-", "MIG-")) else f"GPU-{gpu}"
        return nvml.pynvml.nvmlDeviceGetHandleByUUID(uuid)
    return nvml.pynvml.nvmlDeviceGetHandleByIndex(gpu)


def index_of(uuid: str) -> int | None:
    """NVML's index (PCI order: doctor's, the topology's, ASPM's) of the GPU with this UUID;
    None when NVML cannot say."""
    if nvml.init_failure() is not None:
        return None
    with nvml.session(), suppress(nvml.pynvml.NVMLError):
        return int(nvml.pynvml.nvmlDeviceGetIndex(_handle(str(uuid))))
    return None


class PowerReader:
    """Board power (W) and GPU utilisation (%) of one GPU (index or UUID), NVML opened once.

    The power sampler reads every 0.1 s while training steps are timed; opening and closing
    NVML for each reading would cost host CPU inside the measurement. So NVML is initialised
    when the reader is entered and shut down when it exits; `read()` is two queries.
    `read()` is None when NVML cannot answer (no driver, unsupported field): callers print n/a.
    nvmlDeviceGetPowerUsage is a 1 s average on Ampere and later, so sample over the
    measured steps rather than trusting one reading.
    """

    def __init__(self, gpu: int | str):
        self.gpu = gpu
        self._open = False
        self._handle = None

    def __enter__(self) -> PowerReader:
        if nvml.pynvml is None:
            return self
        try:
            nvml.pynvml.nvmlInit()
        except nvml.pynvml.NVMLError:
            return self
        self._open = True
        try:
            self._handle = _handle(self.gpu)
        except (nvml.pynvml.NVMLError, AttributeError):
            self._handle = None
        return self

    def read(self) -> dict[str, float] | None:
        if self._handle is None:
            return None
        try:
            power_mw = nvml.pynvml.nvmlDeviceGetPowerUsage(self._handle)
            util = nvml.pynvml.nvmlDeviceGetUtilizationRates(self._handle).gpu
        except (nvml.pynvml.NVMLError, AttributeError):
            return None
        return {"power_w": power_mw / 1000.0, "util_pct": float(util)}

    def __exit__(self, *exc) -> bool:
        if self._open:
            nvml.pynvml.nvmlShutdown()
            self._open = False
        return False


class HealthReader(PowerReader):
    """Clock-event reasons, temperature and PCIe generation of one GPU, NVML opened once:
    what validate samples while its GEMM loads the GPU. `read()` is None without NVML; a field
    NVML does not answer is None."""

    def read(self) -> dict[str, int | None] | None:
        if self._handle is None:
            return None
        h, out = self._handle, {}
        for key, query in (
            ("clock_events", _clock_event_mask),
            (
                "temperature_c",
                lambda h: nvml.pynvml.nvmlDeviceGetTemperature(h, nvml.pynvml.NVML_TEMPERATURE_GPU),
            ),
            ("pcie_gen", nvml.pynvml.nvmlDeviceGetCurrPcieLinkGeneration),
        ):
            try:
                out[key] = int(query(h))
            except (nvml.pynvml.NVMLError, AttributeError):
                out[key] = None
        return out


def _clock_event_mask(h: Any) -> int:
    try:
        return nvml.pynvml.nvmlDeviceGetCurrentClocksEventReasons(h)
    except (nvml.pynvml.NVMLError, AttributeError):  # drivers before 535: the deprecated name
        return nvml.pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(h)


def read_power_util(gpu: int | str) -> dict[str, float] | None:
    """One reading (see PowerReader); for a single look, not for sampling."""
    with PowerReader(gpu) as reader:
        return reader.read()
