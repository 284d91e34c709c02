"""Shared fixtures: a real local Ray instance, reused across tests to save start-up time."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import ray

_MODE = {"current": None}


def start_local_ray(num_cpus: int = 2) -> None:
    if ray.is_initialized() and _MODE["current"] == ("local", num_cpus):
        return
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    _MODE["current"] = ("local", num_cpus)


def forget_ray() -> None:
    """Call after a test shuts Ray down or replaces it (e.g. a multi-node Cluster)."""
    if ray.is_initialized():
        ray.shutdown()
    _MODE["current"] = None


@contextmanager
def ray_cluster(cpus_per_node: list[int]):
    """A real multi-node Ray (ray.cluster_utils.Cluster: one raylet per node, all on this
    machine), connected for the block and shut down after it."""
    from ray.cluster_utils import Cluster

    forget_ray()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus_per_node[0]})
    for cpus in cpus_per_node[1:]:
        cluster.add_node(num_cpus=cpus)
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        forget_ray()
        cluster.shutdown()


@pytest.fixture
def ray_local():
    """A real single-node Ray with 2 logical CPUs (this machine has 2 cores)."""
    start_local_ray(2)
    yield


@pytest.fixture
def ray_local3():
    """3 logical CPUs on 2 cores: enough to place 3 gloo ranks for correctness tests."""
    start_local_ray(3)
    yield


def pytest_sessionfinish(session, exitstatus):
    forget_ray()
