"""The CUDA path's logic, without a GPU: which device a rank opens and binds, what NCCL is told
to log, and which number a GPU goes by.

A fake torch.cuda stands in for the driver where none exists here. It models what matters:
CUDA enumerates GPUs fastest-first unless CUDA_DEVICE_ORDER=PCI_BUS_ID, CUDA_VISIBLE_DEVICES
then picks from that enumeration, and the current device is per thread. Results still come
only from real runs; this is logic.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import torch

from scaling.cluster import nccl_log
from scaling.cluster.worker import RankActor, bind_device, choose_device

# NVML's order is PCI bus order: index i is PCI[i]. The fastest GPU is not the first one.
PCI = [
    {"bus": 0x18, "uuid": "GPU-aaaa", "speed": 1},
    {"bus": 0x2A, "uuid": "GPU-bbbb", "speed": 4},
    {"bus": 0x3A, "uuid": "GPU-cccc", "speed": 2},
    {"bus": 0x5D, "uuid": "GPU-dddd", "speed": 3},
]


class FakeCuda:
    def __init__(self, environ: dict):
        self.environ = environ
        self.local = threading.local()

    def _enumeration(self) -> list[dict]:
        if self.environ.get("CUDA_DEVICE_ORDER") == "PCI_BUS_ID":
            gpus = list(PCI)
        else:  # CUDA's default, FASTEST_FIRST
            gpus = sorted(PCI, key=lambda g: -g["speed"])
        visible = self.environ.get("CUDA_VISIBLE_DEVICES")
        return [gpus[int(i)] for i in visible.split(",")] if visible else gpus

    def is_available(self) -> bool:
        return True

    def set_device(self, index: int) -> None:
        self.local.device = index

    def current_device(self) -> int:
        return getattr(self.local, "device", 0)

    def get_device_properties(self, index: int):
        g = self._enumeration()[index]
        return SimpleNamespace(
            name="Fake GPU", uuid=g["uuid"][4:], pci_domain_id=0, pci_bus_id=g["bus"],
            pci_device_id=0, total_memory=80 << 30,
        )  # fmt: skip


def nvml_by_uuid(uuid: str) -> int | None:
    return next((i for i, g in enumerate(PCI) if g["uuid"] == f"GPU-{uuid}"), None)


def test_a_rank_opens_the_gpu_its_ray_id_names_in_nvml_order():
    # The gang holds GPUs 1 and 3 of this node; this rank's Ray id is 3. Fastest-first, CUDA
    # would read "3" as PCI[2] (speeds 4, 3, 2, 1): NVML's GPU 2, not 3.
    env: dict[str, str] = {}
    cuda = FakeCuda(env)
    chosen = choose_device(["3"], ["3", "1"], cuda, env, nvml_by_uuid)
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert env["CUDA_VISIBLE_DEVICES"] == "1,3" and chosen["cuda_device"] == 1
    assert chosen["gpu_pci_bus_id"] == "00000000:5D:00.0"  # PCI[3]: the GPU Ray meant
    assert chosen["gpu_index"] == 3  # one number in every table: NVML's


def test_gpu_index_is_nvmls_even_where_it_differs_from_rays_id():
    # A GPU NVML numbers differently (its lookup answers, by UUID): NVML's number wins; where
    # NVML cannot answer, the Ray id stays (the rank's metadata already holds it).
    env: dict[str, str] = {}
    chosen = choose_device(["0"], ["0"], FakeCuda(env), env, lambda uuid: 7)
    assert chosen["gpu_index"] == 7
    chosen = choose_device(["0"], ["0"], FakeCuda(env), env, lambda uuid: None)
    assert "gpu_index" not in chosen


def test_init_group_binds_the_ranks_own_gpu_on_whatever_thread_runs_it(monkeypatch):
    env: dict[str, str] = {}
    cuda = FakeCuda(env)
    monkeypatch.setattr(torch, "cuda", cuda)
    rank = RankActor.__new__(RankActor)  # the actor's logic, without Ray
    rank.cuda_device = choose_device(["2"], ["0", "2"], cuda, env, nvml_by_uuid)["cuda_device"]
    assert rank.cuda_device == 1
    got: dict = {}
    # Ray runs actor calls on its own threads: this one has never set a device (current is 0).
    worker = threading.Thread(target=lambda: got.update(
        opts=rank._group_options("nccl"), current=cuda.current_device()))  # fmt: skip
    worker.start()
    worker.join()
    assert got["opts"]["device_id"] == torch.device("cuda", 1)
    assert got["current"] == 1  # and it is current there, for NCCL's own calls
    assert rank._group_options("gloo") == {}
    assert bind_device(cuda, 1) == torch.device("cuda", 1)


def test_a_users_nccl_debug_does_not_turn_the_transport_capture_off(tmp_path, capsys):
    # The rank starts with the user's --env (NCCL_DEBUG=WARN), then each group applies it again.
    env = {"NCCL_DEBUG": "WARN"}
    cap = nccl_log.Capture(env)
    cap.keep(env, {"NCCL_DEBUG": "WARN", "RANK": "0", "WORLD_SIZE": "2"})
    assert env["NCCL_DEBUG"] == "INFO" and env["RANK"] == "0"  # NCCL still logs INIT lines
    assert env["NCCL_DEBUG_FILE"] == str(cap.path)
    fixture = Path(__file__).parent / "fixtures" / "nccl" / "cumem_read.log"
    link = fixture.read_text().splitlines()[2]
    warn = "host:1:1 [0] NCCL WARN Call to ibv_open_device failed"
    Path(env["NCCL_DEBUG_FILE"]).write_text(f"{link}\n{warn}\n")
    parsed = cap.read_new()
    assert parsed["transports"] == ["P2P/CUMEM"]
    # The user sees what they asked for: WARN lines only.
    assert capsys.readouterr().out.splitlines() == [warn]
