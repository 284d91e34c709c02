"""scaling: a distributed multi-GPU scaling tester.

Ray actors form torch.distributed groups over 1..N GPUs (NCCL) or CPU ranks
(gloo), run collective sweeps and data-parallel training steps, and a collector
turns the raw samples into scaling efficiency, bus bandwidth and overheads.
"""

__version__ = "0.1.0"
