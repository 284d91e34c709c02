"""`scaling topo` and `scaling doctor`: read the hardware, show the links, judge its health."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

# The hardware modules are imported by the commands, not here: `scaling --help` lists these
# commands without paying for NVML or Ray.


def _node_names(snapshots: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Ray node ids -> host names (plus a short id where two hosts share a name)."""
    hosts = [s["host"].get("hostname", "?") for s in snapshots.values()]
    return {
        (host if hosts.count(host) == 1 else f"{host} ({node_id[:8]})"): snap
        for host, (node_id, snap) in zip(hosts, snapshots.items(), strict=True)
    }


def gather(
    address: str | None, snapshot_files: tuple[str, ...], load: bool
) -> dict[str, dict[str, Any]]:
    """node name -> snapshot: from files, from every node of a Ray cluster, or this machine."""
    from scaling.hardware.probe import SnapshotError, load_snapshots, probe

    if address and snapshot_files:
        raise click.UsageError(
            "--address probes live nodes and --snapshot reads files: use one of them"
        )
    if snapshot_files:
        nodes: dict[str, dict[str, Any]] = {}
        for path in snapshot_files:
            try:
                loaded = load_snapshots(path)
            except SnapshotError as e:
                raise click.UsageError(str(e)) from None
            for name, snap in loaded.items():
                nodes[name if name not in nodes else f"{name} ({path})"] = snap
        return nodes
    if address:
        # Imported here: plain `scaling topo` must not pay for importing Ray.
        from scaling.cluster.connect import ClusterError, connect_ray, disconnect_ray
        from scaling.cluster.node_probe import probe_nodes

        started = False
        try:
            started = connect_ray(address)
            return _node_names(probe_nodes(load=load))
        except ClusterError as e:
            raise click.UsageError(str(e)) from None
        finally:
            disconnect_ray(started)
    snap = probe(load=load)
    return {snap["host"]["hostname"]: snap}


_address = click.option(
    "--address",
    metavar="ADDR",
    help="Probe every node of this Ray cluster (auto or HOST:PORT). Default: this machine only.",
)
_snapshot = click.option(
    "--snapshot",
    "snapshot_files",
    metavar="FILE",
    multiple=True,
    help="Read a saved snapshot instead of probing (repeat for several nodes).",
)
_json = click.option("--json", "as_json", is_flag=True, help="Print JSON for automation.")


@click.command()
@_address
@_snapshot
@_json
@click.option(
    "--load",
    is_flag=True,
    help="Run a short GPU matmul while reading the PCIe generation (idle links down-train).",
)
@click.option(
    "--save",
    metavar="FILE",
    help="Write the snapshot(s) as JSON (to send us, or to --snapshot later).",
)
@click.option(
    "--transfers",
    is_flag=True,
    help="Also measure H2D/D2H/D2D and P2P copy bandwidth on this machine's GPUs.",
)
def topo(
    address: str | None,
    snapshot_files: tuple[str, ...],
    as_json: bool,
    load: bool,
    save: str | None,
    transfers: bool,
) -> None:
    """Show how GPUs and nodes are connected, and each link's theoretical ceiling.

    Prints the `nvidia-smi topo -m` matrix (X, NV#, PIX, PXB, PHB, NODE, SYS),
    a per-GPU table (PCIe generation and width now, under load and at max;
    NVLinks and their version; NUMA) and the node's network. Without a GPU it
    says so and shows the host.

    \b
    Examples:
      scaling topo                          # this machine
      scaling topo --load --save node.json  # judge PCIe under load, keep the snapshot
      scaling topo --address auto           # every node of the Ray cluster
      scaling topo --snapshot node.json     # a saved snapshot
      scaling topo --transfers              # plus measured copy bandwidth vs ceilings
    """
    from scaling.hardware.probe import SCHEMA

    if transfers and (address or snapshot_files):
        raise click.UsageError(
            "--transfers measures this machine's GPUs: drop --address/--snapshot"
        )
    nodes = gather(address, snapshot_files, load)
    if save:
        payload = (
            next(iter(nodes.values())) if len(nodes) == 1 else {"schema": SCHEMA, "nodes": nodes}
        )
        try:
            Path(save).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        except OSError as e:
            raise click.UsageError(f"cannot write {save}: {e.strerror or e}") from None
    measured = None
    if transfers:
        from scaling.hardware.transfers import compare_to_ceilings, measure_transfers

        result = measure_transfers()
        snap = next(iter(nodes.values()))
        measured = {"result": result, "vs_ceiling": compare_to_ceilings(result, snap)}
    _print_topology(nodes, measured, as_json)
    if save and not as_json:
        click.echo(f"\nsaved: {save}", err=True)


def _print_topology(nodes: dict, measured: dict | None, as_json: bool) -> None:
    from scaling.hardware.text import topology_text, transfers_text
    from scaling.hardware.topology import describe

    if as_json:
        out: dict[str, Any] = {
            "nodes": {name: {"snapshot": s, "topology": describe(s)} for name, s in nodes.items()}
        }
        if measured is not None:
            out["transfers"] = measured
        click.echo(json.dumps(out, indent=1))
        return
    click.echo("\n\n".join(topology_text(name, s) for name, s in nodes.items()))
    if measured is not None:
        click.echo("")
        if measured["result"]["available"]:
            click.echo(transfers_text(measured["vs_ceiling"]))
        else:
            click.echo(measured["result"]["reason"])


@click.command()
@_address
@_snapshot
@_json
@click.option(
    "--load/--no-load",
    default=True,
    show_default=True,
    help="Load the GPUs briefly to judge the PCIe generation (only where torch sees CUDA).",
)
def doctor(address: str | None, snapshot_files: tuple[str, ...], as_json: bool, load: bool) -> None:
    """Check the hardware before measuring: PASS / WARN / FAIL, with what to do.

    Per node: PCIe width and generation (judged under load), throttling clock
    events (thermal, HW slowdown, power brake), inactive NVLinks, uncorrected
    ECC errors and pending row remaps, GPU memory held by other processes,
    NVML errors, host swap, InfiniBand/RoCE ports (state, rate against their
    peers, error counters). Across nodes: torch, NCCL, CUDA, driver, GPUs and
    topology must match. Exits 1 when any check FAILs, so scripts can gate on it.

    \b
    Examples:
      scaling doctor                        # this machine
      scaling doctor --address auto         # every node of the Ray cluster, compared
      scaling doctor --json | jq '.status'
      scaling doctor --snapshot a.json --snapshot b.json
    """
    from scaling.hardware.across_nodes import compare_nodes
    from scaling.hardware.diagnose import diagnose, worst
    from scaling.hardware.ib_health import NOT_FOUND, check_ib_ports
    from scaling.hardware.text import checks_text

    nodes = gather(address, snapshot_files, load)
    per_node = {name: diagnose(s) for name, s in nodes.items()}
    ib = {name: check_ib_ports(s, nodes) for name, s in nodes.items()}
    for name, found in ib.items():
        per_node[name] += [found] if found else []
    not_run = [] if any(ib.values()) else [f"ib_ports: not run ({NOT_FOUND})"]
    across = compare_nodes(nodes)
    every = [c for checks in per_node.values() for c in checks] + across
    status = worst(every)
    counts = {s: sum(c["status"] == s for c in every) for s in ("FAIL", "WARN", "PASS")}
    if as_json:
        click.echo(
            json.dumps(
                {
                    "status": status,
                    "counts": counts,
                    "nodes": per_node,
                    "across_nodes": across,
                    "not_run": not_run,
                },  # fmt: skip
                indent=1,
            )
        )
    else:
        blocks = [checks_text(name, checks) for name, checks in per_node.items()]
        if across:
            blocks.append(checks_text(f"across {len(nodes)} nodes", across))
        click.echo("\n\n".join(blocks + not_run))
        click.echo(
            f"\n{status}: {counts['FAIL']} FAIL, {counts['WARN']} WARN, {counts['PASS']} PASS"
        )
    if status == "FAIL":
        click.get_current_context().exit(1)
