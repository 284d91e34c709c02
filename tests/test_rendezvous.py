import socket

from scaling.cluster.gang import order_ranks
from scaling.cluster.rendezvous import assign_ranks, bind_master_store, torchrun_env


def test_taken_port_is_retried_not_fatal():
    # Someone grabs the port between our probe and our bind: the next candidate is used.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        got = bind_master_store("127.0.0.1", 1, 10.0, ports=iter([taken, 0]))
        assert got["port"] != taken and got["port"] > 0


def test_default_bind_lets_the_os_pick():
    got = bind_master_store("127.0.0.1", 1, 10.0)
    assert got["port"] > 0


def test_assign_ranks_is_torchrun_numbering():
    layout = assign_ranks(
        [{"node_id": "a"}, {"node_id": "a"}, {"node_id": "b"}, {"node_id": "b"}, {"node_id": "b"}]
    )
    assert [x["node_rank"] for x in layout] == [0, 0, 1, 1, 1]
    assert [x["local_rank"] for x in layout] == [0, 1, 0, 1, 2]
    assert [x["local_world_size"] for x in layout] == [2, 2, 3, 3, 3]
    assert all(x["nodes"] == 2 for x in layout)
    env = torchrun_env(3, 1, 5, 3, 1, "10.0.0.1", 29500)
    assert env == {
        "RANK": "3",
        "LOCAL_RANK": "1",
        "WORLD_SIZE": "5",
        "LOCAL_WORLD_SIZE": "3",
        "NODE_RANK": "1",
        "MASTER_ADDR": "10.0.0.1",
        "MASTER_PORT": "29500",
        "GROUP_RANK": "1",
    }


def test_order_ranks_node_contiguous_fuller_nodes_first_then_gpu():
    metas = [
        {"node_id": "small", "gpu_index": 0},
        {"node_id": "big", "gpu_index": 3},
        {"node_id": "big", "gpu_index": 1},
        {"node_id": "small", "gpu_index": 1},
        {"node_id": "big", "gpu_index": 2},
    ]
    order = [metas[i] for i in order_ranks(metas)]
    assert [(m["node_id"], m["gpu_index"]) for m in order] == [
        ("big", 1),
        ("big", 2),
        ("big", 3),
        ("small", 0),
        ("small", 1),
    ]


def test_store_listens_on_the_given_address_only():
    # The store has no authentication: bound to loopback, the host's other address refuses it.
    got = bind_master_store("127.0.0.1", 1, 10.0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.connect(("192.0.2.254", 9))  # no packet is sent: this asks for the route's source
            other = udp.getsockname()[0]
        except OSError:
            other = "127.0.0.1"
    if other.startswith("127."):
        import pytest

        pytest.skip(f"this host has no address besides loopback ({other})")
    with socket.socket() as probe:
        probe.settimeout(5)
        assert probe.connect_ex((other, got["port"])) != 0
    with socket.create_connection(("127.0.0.1", got["port"]), timeout=5):
        pass
