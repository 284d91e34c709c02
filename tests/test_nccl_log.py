"""The NCCL transport parser on real NCCL log lines (tests/fixtures/nccl, sources in its README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaling.cluster import nccl_log

FIXTURES = Path(__file__).parent / "fixtures" / "nccl"


def lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines()


@pytest.mark.parametrize(
    "name,transports",
    [
        ("shm_8gpu.log", ["SHM"]),
        ("socket_2node.log", ["NET/Socket", "SHM"]),
        ("ib_cumem_2node.log", ["NET/IB", "P2P/CUMEM"]),
        ("cumem_read.log", ["P2P/CUMEM"]),
        ("ibext_plugin.log", ["NET/IB"]),
        ("ring_old_format.log", ["NET/IB"]),
        ("direct_pointer.log", ["P2P/direct"]),
        ("nvls_heads.log", ["NVLS"]),
    ],
)
def test_transports_of_real_logs(name, transports):
    assert nccl_log.parse(lines(name))["transports"] == transports


def test_links_keep_ranks_direction_and_raw_via():
    parsed = nccl_log.parse(lines("ib_cumem_2node.log"))
    first = parsed["links"][0]
    assert first == {
        "src": 0,
        "dst": 2,
        "direction": "receive",
        "via": "NET/IB/3/GDRDMA",
        "transport": "NET/IB",
    }
    assert {(x["src"], x["dst"]) for x in parsed["links"]} >= {(3, 2), (1, 0), (3, 1)}
    assert [c["rank"] for c in parsed["comms"]] == [1, 0]
    assert parsed["comms"][0]["nranks"] == 4 and parsed["comms"][0]["bus_id"] == "38000"
    assert not parsed["nvls"] and not parsed["collnet"]


def test_channel_counts_and_algo_lists_are_not_evidence_of_nvls_or_collnet():
    # "0 nvls channels" and an NCCL_ALGO list naming NVLS and CollNet: neither was used.
    parsed = nccl_log.parse(lines("direct_pointer.log"))
    assert not parsed["nvls"] and not parsed["collnet"]
    assert nccl_log.parse(["h:1:2 [0] NCCL INFO 16 coll channels, 0 collnet channels, 8 nvls channels, 16 p2p channels"])["nvls"]  # fmt: skip


def test_lines_that_are_not_links_are_ignored():
    noise = [
        "server1:730585:730605 [1] NCCL INFO Ring 00 : 0 -> 1 -> 0",
        "server1:730585:730604 [0] NCCL INFO Channel 00/06 :    0   1",
        "garbage",
        "",
    ]
    assert nccl_log.parse(noise)["links"] == []


@pytest.mark.parametrize(
    "via,cls",
    [
        ("P2P/IPC", "P2P/IPC"),
        ("P2P/IPC/read", "P2P/IPC"),
        ("P2P/CUMEM/read", "P2P/CUMEM"),
        ("SHM/direct/direct", "SHM"),
        ("NET/Socket/0", "NET/Socket"),
        ("NET/IBext_v8/7/GDRDMA", "NET/IB"),
        ("NET/AWS Libfabric/0", "NET/AWS Libfabric"),
    ],
)
def test_transport_class(via, cls):
    assert nccl_log.transport_class(via) == cls


def test_capture_sets_nccl_debug_only_where_the_user_did_not(tmp_path):
    env: dict[str, str] = {}
    cap = nccl_log.Capture(env)
    assert env["NCCL_DEBUG"] == "INFO" and env["NCCL_DEBUG_SUBSYS"] == "INIT"
    assert env["NCCL_DEBUG_FILE"] == str(cap.path) and cap.echo is None
    assert not cap.path.exists()  # NCCL creates it; a rank that never uses NCCL leaves nothing

    user = {"NCCL_DEBUG": "WARN", "NCCL_DEBUG_SUBSYS": "NET"}
    cap = nccl_log.Capture(user)
    # The level is raised to read INIT lines, but only WARN lines are echoed, as asked.
    assert user["NCCL_DEBUG"] == "INFO" and user["NCCL_DEBUG_SUBSYS"] == "NET,INIT"
    assert cap.echo == "WARN"

    theirs = tmp_path / "nccl.%h.log"
    kept = {"NCCL_DEBUG": "INFO", "NCCL_DEBUG_FILE": str(theirs)}
    cap = nccl_log.Capture(kept)
    assert kept["NCCL_DEBUG_FILE"] == str(theirs)  # their file, never moved
    assert cap.echo is None and "%h" not in str(cap.path)


def test_capture_reads_increments_keeps_partial_lines_and_echoes(tmp_path, capsys):
    env = {"NCCL_DEBUG": "INFO"}
    cap = nccl_log.Capture(env)
    link = lines("cumem_read.log")[2]
    with open(env["NCCL_DEBUG_FILE"], "a") as nccl:  # NCCL appends while the rank reads
        nccl.write(link + "\n" + link[:30])
        nccl.flush()
        first = cap.read_new()
        assert [x["transport"] for x in first["links"]] == ["P2P/CUMEM"]
        assert not Path(env["NCCL_DEBUG_FILE"]).exists()  # nothing left in /tmp
        nccl.write(link[30:] + "\n")
        nccl.flush()
        second = cap.read_new()
    assert len(second["links"]) == 1 and second["links"][0]["via"] == "P2P/CUMEM/read"
    echoed = capsys.readouterr().out.splitlines()
    assert echoed == [link, link]  # the user asked for NCCL_DEBUG=INFO on the terminal
