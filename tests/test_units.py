import pytest

from scaling.config.units import format_size, parse_list, parse_size, parse_world_sizes


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1K", 1024),
        ("64M", 64 << 20),
        ("1G", 1 << 30),
        ("8", 8),
        ("4KiB", 4096),
        ("2kb", 2048),
        (512, 512),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "1X", "-1K", "0", 0, "1.5M", True])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_format_size_round_trips():
    for n in (1024, 64 << 20, 1 << 30, 3000):
        assert parse_size(format_size(n)) == n
    assert format_size(3000) == "3000"


def test_world_sizes_sorted_unique():
    assert parse_world_sizes("8,1,2,2,4") == [1, 2, 4, 8]
    assert parse_world_sizes([2, 1]) == [1, 2]


@pytest.mark.parametrize("text", ["0", "-1", "a", "1,,2", "", "1.5"])
def test_world_sizes_reject(text):
    with pytest.raises(ValueError):
        parse_world_sizes(text)


def test_parse_list():
    assert parse_list("all_reduce, all_gather") == ["all_reduce", "all_gather"]
    with pytest.raises(ValueError):
        parse_list(" , ")
