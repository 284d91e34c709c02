"""The workloads a run can sweep: one `Workload` spec per workload, registered by its module.

A spec is everything the rest of the tool needs to know about a workload (as torchtitan's
TrainSpec is for a model): its name, its config section, its presets, how it plans points at
a world size (driver), what runs on every rank for a point (rank), how the ranks' results
become sample records (driver), the point keys those records carry (declared once: records,
the collector's grouping and compare's labels read them), and which collector table
summarizes them. The sweep, the
config schema and loader, the CLI and the collector find workloads here; none names one.

Adding a workload is one module holding `WORKLOAD = Workload(...)` plus its path in BUILTIN
(built-ins run in that order), or, for a workload of your own, `register(Workload(...))`
before the run. Specs import no torch: the rank side is named as "module:function" and
imported on the rank.

    from scaling.workloads.catalog import WORKLOADS, Workload, register
    WORKLOADS.get("resnet50").plan(cfg, 4)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scaling.registry import Registry

BUILTIN = (
    "scaling.workloads.collectives",
    "scaling.workloads.resnet50",
    "scaling.workloads.transformer",
    # the checks of `scaling validate` (not in the default suite)
    "scaling.workloads.checks.gemm",
    "scaling.workloads.checks.membw",
    "scaling.workloads.checks.host_copies",
    "scaling.workloads.checks.peer_copy",
    "scaling.workloads.checks.sdc",
    "scaling.workloads.checks.p2p",
    "scaling.workloads.checks.group_collective",
)


@dataclass(frozen=True)
class Table:
    """A collector table: the file it is written to and the function that builds it."""

    name: str
    """The run's attribute (run.collectives, run.training) or key in run.tables."""
    file: str
    """Its file in the run directory (summary.csv); .parquet beside it when pyarrow is there."""
    summarize: str | Callable
    """(samples, manifest) -> DataFrame with every column even when empty; "module:function"
    so that declaring a table imports no pandas."""
    columns: str | tuple[str, ...]
    """Its columns, or "module:NAME" of them (an empty table when a tolerant summary fails)."""
    always: bool = False
    """Write the file even when the table is empty (summary.csv: every run has one)."""
    tolerant: bool = False
    """A summary that raises becomes a warning and an empty table, so the rest still reports."""


@dataclass(frozen=True)
class PointKey:
    """One field that tells a workload's points apart, declared once on its spec: the plan
    (or the group, or the ranks: `source`) gives it a value, `Workload.points` checks the plan
    gave it, `record_key` copies it into every sample, the collector groups by it, and compare
    labels and pairs points with it."""

    name: str
    source: str = "plan"
    """Who gives its value: "plan" (every planned point, or a view); "group" (a fact of the
    process group, its attribute of that name, unless a view's point sets it: nodes, span);
    "rank" (the first rank's result, which wins over the point's: a rank resolves "auto")."""
    default: Any = None
    """What a sample file without it (an older or hand-written run) holds; None: no default."""
    same_as: str | None = None
    """Fill it from this earlier key instead (a group's ranks: its world size)."""
    derive: Callable[[Any], Any] | None = None
    """With same_as: the value from that key's (a shape label from the ranks)."""
    kind: type = str
    """str: a name, text in every sample; int: a whole count >= 0. The sample reader
    (collector/damaged.py) skips a record whose key holds anything else."""
    scales: bool = False
    """Takes a new value at each world size (world_size, nodes): the points of one scaling
    curve differ only in these, so its world-size-1 baseline matches on the other keys."""

    @property
    def fills(self) -> bool:
        return self.default is not None or self.same_as is not None


def key_names(keys: tuple[PointKey, ...]) -> list[str]:
    return [k.name for k in keys]


def curve_keys(keys: tuple[PointKey, ...]) -> list[str]:
    """The keys one scaling curve holds fixed: every declared key that does not scale."""
    return [k.name for k in keys if not k.scales]


def key_kinds() -> dict[str, type]:
    """Every registered workload's point keys: name -> kind (str or int), in registration
    order. Two workloads that declare one name with two kinds are a ValueError naming it."""
    kinds: dict[str, type] = {}
    for w in WORKLOADS.values():
        for k in w.point_keys:
            if kinds.setdefault(k.name, k.kind) is not k.kind:
                raise ValueError(f"point key {k.name!r} is declared both as {kinds[k.name].__name__} "
                                 f"and as {k.kind.__name__} ({w.name})")  # fmt: skip
    return kinds


def record_key(
    keys: tuple[PointKey, ...], point: dict, group=None, rank: dict | None = None
) -> dict:
    """The declared keys' values for a sample record, each from where its `source` says (the
    point; the point, then the group's attribute; the rank's result, then the point), else
    from its declared default. A key with neither is a KeyError naming it: a key declared but
    never given fails at once, not in the summary."""
    out: dict = {}
    facts = {k.name: getattr(group, k.name) for k in keys
             if k.source == "group" and hasattr(group, k.name)}  # fmt: skip
    order = {"plan": (point,), "group": (point, facts), "rank": (rank or {}, point)}
    for k in keys:
        holder = next((s for s in order[k.source] if k.name in s), None)
        if holder is not None:
            out[k.name] = holder[k.name]
        elif k.same_as is not None:
            value = out[k.same_as]
            out[k.name] = k.derive(value) if k.derive else value
        elif k.default is not None:
            out[k.name] = k.default
        else:
            raise KeyError(f"point key {k.name!r} is declared but no point or group gives it")
    return out


def resolve(ref: str | Any) -> Any:
    """A function (or any object) given itself or as "package.module:name" (imported now)."""
    if not isinstance(ref, str):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _no_notices(cfg, n: int) -> list[str]:
    return []


def _as_is(point: dict) -> dict:
    return point


@dataclass
class Workload:
    name: str
    """The name in --workloads and `workloads = [...]`, and every sample's "workload"."""
    plan: Callable[[Any, int], list[dict]]
    """Driver: (cfg, world size) -> the points to measure, in order (plain dicts)."""
    rank: str | Callable[[dict], dict]
    """Rank: "module:function" (or a function, pickled by Ray) called on every rank of the
    group with one point; returns that rank's raw results."""
    records: Callable[[dict, Any, list[dict]], list[dict]]
    """Driver: (point, group, per-rank results) -> sample records for samples.jsonl."""
    table: Table
    """The collector table its samples feed."""
    section: type | None = None
    """Its config dataclass: the [<name>] TOML section, cfg.<name> in code."""
    shared: dict[str, type] = field(default_factory=dict)
    """Sections it reads but shares with other workloads (e.g. [training]), by name."""
    presets: dict[str, dict] = field(default_factory=dict)
    """Named sizes of the workload (e.g. tiny, imagenet), for its section's `preset` key."""
    views: Callable[[list[dict], Any], list[dict]] | None = None
    """Driver: extra points over parts of a multi-node group (the collectives' intra/inter)."""
    rank_spec: Callable[[dict], dict] = _as_is
    """Driver: what every rank receives for a point (default: the point itself)."""
    notices: Callable[[Any, int], list[str]] = _no_notices
    """Driver: what to tell the user at a world size (e.g. an op skipped at one rank)."""
    default: bool = True
    """Part of the default suite (`workloads` unset)."""
    model: Any = None
    """Training workloads: what the step bench builds (a workloads.training.Model)."""
    point_keys: tuple[PointKey, ...] = ()
    """The fields that tell its points apart (PointKey), in the collector's grouping order."""

    def sections(self) -> dict[str, type]:
        """Its config sections, shared ones first: name -> dataclass."""
        own = {self.name: self.section} if self.section is not None else {}
        return self.shared | own

    def points(self, cfg, group) -> list[dict]:
        """Every point at this group's world size, with the views of a multi-node group. A
        point without a key the declaration says the plan gives (and nothing else fills) is
        a ValueError naming it, here, before any point runs."""
        points = self.plan(cfg, len(group.rank_info))
        if self.views is not None:
            points += self.views(points, group)
        needed = [k.name for k in self.point_keys if k.source == "plan" and not k.fills]
        for p in points:
            if lacking := [name for name in needed if name not in p]:
                raise ValueError(f"workload {self.name!r} planned a point without its declared "
                                 f"point key {', '.join(map(repr, lacking))}")  # fmt: skip
        return points


WORKLOADS: Registry[Workload] = Registry("workload", builtins=BUILTIN, attr="WORKLOAD")
register = WORKLOADS.register


def get(name: str) -> Workload:
    return WORKLOADS.get(name)


def names() -> tuple[str, ...]:
    return WORKLOADS.names()


def tables() -> list[Table]:
    """Every registered workload's table, once each, in registration order."""
    seen: dict[str, Table] = {}
    for w in WORKLOADS.values():
        seen.setdefault(w.table.name, w.table)
    return list(seen.values())
