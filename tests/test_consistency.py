from scaling.cluster.consistency import version_mismatches


def meta(node, host, torch="2.13.0", nccl="2.27.3", cuda="12.8", gpu="NVIDIA H100 80GB HBM3"):
    return {
        "node_id": node,
        "hostname": host,
        "torch": torch,
        "nccl": nccl,
        "cuda": cuda,
        "gpu_name": gpu,
    }


def test_alike_nodes_pass():
    assert version_mismatches([meta("a", "n1"), meta("a", "n1"), meta("b", "n2")]) == []


def test_single_node_never_mismatches():
    assert version_mismatches([meta("a", "n1")]) == []


def test_mismatch_names_field_values_and_hosts():
    out = version_mismatches(
        [meta("a", "gpu-01"), meta("b", "gpu-02", nccl="2.21.5"), meta("c", "gpu-03")]
    )
    assert out == ["nccl differs across nodes: 2.27.3 on gpu-01, gpu-03; 2.21.5 on gpu-02"]
    out = version_mismatches(
        [meta("a", "x", torch="2.13.0"), meta("b", "y", torch="2.12.1", cuda="12.4")]
    )
    assert (
        len(out) == 2 and out[0].startswith("torch differs") and out[1].startswith("cuda differs")
    )
