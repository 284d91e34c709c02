"""GPU power and utilisation, sampled in the background while the measured steps run.

The readings come from `scaling.hardware.nvml_readers.PowerReader(gpu_index)` (NVML reached
through hardware/nvml.py), opened once for the sampler's life, not once per reading. Without
that module, without NVML or on CPU there are no readings and the figures are None ("n/a" in
reports).

    with PowerSampler(gpu_index=0) as power:
        run_measured_steps()
    power.summary()  # {"power_w": 412.0, "gpu_util_pct": 98.5, "power_samples": 31}
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable

# NVML's power reading is a 1 s average on Ampere and later; sampling faster only repeats it.
PERIOD_S = 0.1


def nvml_reader(gpu_index: int | str):
    """The hardware package's reader for one GPU, or None when it is unavailable."""
    try:
        from scaling.hardware.nvml_readers import PowerReader
    except (ImportError, AttributeError):
        return None
    return PowerReader(gpu_index)


class PowerSampler:
    """A daemon thread calling `read(gpu_index)` every `period_s` between enter and exit.

    Without `read`, readings come from an NVML reader opened on enter and closed on exit.
    """

    def __init__(
        self,
        gpu_index: int | str | None,
        read: Callable[[int | str], dict | None] | None = None,
        period_s: float = PERIOD_S,
        open_reader: Callable[[int | str], object] = nvml_reader,
    ):
        self.gpu_index = gpu_index
        self.read = read
        self._open_reader = open_reader
        self._reader = None
        self.period_s = period_s
        self.readings: list[dict] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PowerSampler:
        if self.read is None and self.gpu_index is not None:
            reader = self._open_reader(self.gpu_index)
            if reader is not None:
                self._reader = reader.__enter__()
                self.read = lambda _gpu: self._reader.read()
        if self.read is not None:
            self._sample()  # at least one reading, however short the measured steps
            self._thread = threading.Thread(target=self._loop, name="power-sampler", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> bool:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5 * self.period_s + 1)
        if self._reader is not None:
            self._reader.__exit__(None, None, None)
            self._reader = None
        return False

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            self._sample()

    def _sample(self) -> None:
        try:
            reading = self.read(self.gpu_index)
        except Exception:  # a failing query costs its reading, never the measurement
            reading = None
        if reading:
            self.readings.append(reading)

    def summary(self) -> dict:
        """Means over the readings; None for a figure with no readings."""

        def mean(key: str) -> float | None:
            values = [float(r[key]) for r in self.readings if r.get(key) is not None]
            return statistics.fmean(values) if values else None

        return {
            "power_w": mean("power_w"),
            "gpu_util_pct": mean("util_pct"),
            "power_samples": len(self.readings),
        }
