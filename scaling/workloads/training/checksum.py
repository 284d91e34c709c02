"""A checksum of a model's parameters that equal parameters always agree on (rank side).

After the measured steps every rank's parameters must be identical (DDP keeps them in step);
the collector compares these checksums across ranks (training.csv's `consistent`).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

_INT_VIEW = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
_CHUNK = 1 << 22  # elements per checksum slice: bounds the temporary memory on the device
_MODULUS = 65521  # largest prime below 2**16: position weights 1..65521


@torch.no_grad()
def param_checksum(params: Iterable[torch.Tensor]) -> tuple[float, str]:
    """(float64 sum of all parameters, checksum of their bit patterns as 16 hex digits).

    The second figure weights each element's bits, read as an integer, by its position
    (mod 65521, plus 1), summed in wrapping int64: a changed bit or two swapped elements
    change it, and integer sums do not depend on reduction order, so equal parameters give
    equal checksums on any device. Compare that one; the float sum is for people. Hex,
    because a JSON reader may turn a 64-bit integer into a float and round it.
    """
    total = bits = None
    offset = 0
    for p in params:
        flat = p.detach().reshape(-1)
        ints = flat.view(_INT_VIEW[flat.element_size()])
        for start in range(0, flat.numel(), _CHUNK):
            part = ints[start : start + _CHUNK].long()
            pos = torch.arange(
                offset + start, offset + start + part.numel(), device=p.device, dtype=torch.int64
            )
            b = (part * (pos % _MODULUS + 1)).sum()
            s = flat[start : start + _CHUNK].double().sum()
            total = s if total is None else total + s
            bits = b if bits is None else bits + b
        offset += flat.numel()
    if total is None:
        return 0.0, f"{0:016x}"
    return float(total.item()), f"{int(bits.item()) & (2**64 - 1):016x}"
