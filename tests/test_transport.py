"""The transport column and its warnings, from the sample records the sweep writes."""

import pandas as pd

from scaling.collector.transport import group_transports, join_transport, transport_warnings


def samples() -> pd.DataFrame:
    recs = [
        # gloo: the sweep writes the transport into the group record
        {"type": "group", "world_size": 2, "group": "world", "transport": "gloo/tcp"},
        # NCCL: what each rank's NCCL logged, one record per rank and view
        {"type": "transport", "world_size": 8, "group": "world", "rank": 0,
         "transports": ["SHM"], "links": [[0, 1, "SHM"]]},
        {"type": "transport", "world_size": 8, "group": "world", "rank": 1,
         "transports": ["P2P/CUMEM", "SHM"], "links": [[1, 2, "P2P/CUMEM"]]},
        {"type": "transport", "world_size": 16, "group": "inter", "rank": 0,
         "transports": ["NET/Socket"], "links": [[0, 1, "NET/Socket"]]},
    ]  # fmt: skip
    return pd.DataFrame.from_records(recs)


def test_transports_are_the_union_over_ranks_per_view():
    t = group_transports(samples()).set_index(["world_size", "group"])["transport"]
    assert t[(8, "world")] == "P2P/CUMEM+SHM"
    assert t[(2, "world")] == "gloo/tcp" and t[(16, "inter")] == "NET/Socket"


def test_join_marks_one_rank_and_leaves_unknown_views_empty():
    table = pd.DataFrame(
        {"world_size": [1, 2, 8, 4], "group": ["world"] * 4, "ranks": [1, 2, 8, 4]}
    )
    out = join_transport(table, samples())
    assert out["transport"].tolist()[:3] == ["single rank", "gloo/tcp", "P2P/CUMEM+SHM"]
    assert pd.isna(out["transport"].iloc[3])  # nothing recorded: unknown, never guessed


def test_slower_than_the_hardware_is_a_warning_with_causes():
    summary = pd.DataFrame(
        {
            "world_size": [8, 16, 2, 8],
            "group": ["world", "inter", "world", "intra"],
            "span": ["intra-node", "inter-node", "intra-node", "intra-node"],
            "link_class": ["NV18", "NET 400 Gb (IB)", "loopback (gloo)", "NV18"],
            "transport": ["P2P/CUMEM+SHM", "NET/Socket", "gloo/tcp", "P2P/CUMEM"],
        }
    )
    warnings = transport_warnings(summary)
    assert len(warnings) == 2
    assert warnings[0].startswith("world size 8: NCCL used SHM where the hardware probe shows NV18")
    assert "ACS" in warnings[0] and "--ipc=host" in warnings[0]
    assert "NET/Socket (TCP)" in warnings[1] and "NCCL_IB_DISABLE" in warnings[1]
