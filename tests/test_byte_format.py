"""The one byte formatter: sizes exact in the largest dividing unit, amounts with decimals."""

import pytest

from scaling import format as f
from scaling.config.units import format_bytes, format_size, parse_size


@pytest.mark.parametrize(
    ("n", "text"),
    [(65536, "64 KiB"), (1 << 30, "1 GiB"), (16 << 30, "16 GiB"), (3 << 20, "3 MiB"),
     (1000, "1000 B"), (1536, "1536 B"), (96 << 10, "96 KiB")],
)  # fmt: skip
def test_sizes_are_exact(n, text):
    assert format_bytes(n) == text


def test_amounts_take_the_largest_unit_reached():
    assert format_bytes(1.5 * (1 << 30), 2) == "1.50 GiB"
    assert format_bytes(512 << 20, 1) == "512.0 MiB"
    assert format_bytes(-(3 << 30), 2) == "-3.00 GiB"  # a shortfall keeps its sign
    assert format_bytes(300, 1) == "300 B"
    # swap in use below a GiB is no longer "0.0 GiB": the amount shows in its own unit
    assert format_bytes(30 << 20, 1) == "30.0 MiB"


def test_the_report_and_the_flag_form_agree_with_it():
    assert f.bytes_h(5 << 30) == format_bytes(5 << 30, 2) == "5.00 GiB"
    assert f.bytes_h(None, "not measured") == "n/a (not measured)"
    assert format_size(parse_size("64M")) == "64M"  # what a user types stays the flag form
