"""The floors of the package: imports go down, never up, and never round in a loop.

Every module of `scaling/` sits on one floor (FLOORS, lowest first; a module takes the floor
of its longest listed prefix). A module may import from its own floor or a lower one. Every
import statement counts, the ones inside functions too: a lazy import still ties the two
modules together, it only hides the tie until the function runs. Importing `a.b.c` also runs
the package `a.b`'s `__init__`, so the imports at the top of that `__init__` count as made by
the importer.

The order follows the data flow (cli -> config -> cluster -> workloads -> samples -> run dir
-> collector -> report) read as "who calls whom": the CLI composes the config and runs a job;
a job places ranks (cluster) that run workloads, which write samples into the run directory;
the collector reads them and the report prints the collector's tables. Config is split: its
vocabulary (fields, units, the sections the workloads declare) sits below the workloads, and
its composition root (the schema that knows every workload, the loader) above them.

Registry records also name code as "module:name" strings, imported when used (a workload's
rank function, its table's summarizer in the collector, a strategy's rank class): that keeps
a record free of torch and pandas. Those names are not imports and may point up a floor (the
table of a workload names the collector function that summarizes it); the last test checks
that every such name still exists, so a move cannot leave one dangling.

    python -m pytest tests/test_floors.py -q
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "scaling"

FLOORS: list[tuple[str, tuple[str, ...]]] = [
    # Pure helpers: no knowledge of any job, workload or machine.
    (
        "base",
        (
            "scaling",
            "scaling.registry",
            "scaling.round_order",
            "scaling.interrupts",
            "scaling.format",
            "scaling.config.units",
            "scaling.pairing",
        ),
    ),
    # What a setting is, the sections declared below the workloads ([tune], [validate], the
    # bars) and the strategy names they accept; nothing here names a workload.
    (
        "vocabulary",
        (
            "scaling.config.fields",
            "scaling.config.bars",
            "scaling.config.allreduce_bars",
            "scaling.config.validate",
            "scaling.config.tune",
            "scaling.strategies",
        ),
    ),
    # Facts of the machine, and the run directory's files and atomic writes.
    ("facts", ("scaling.hardware", "scaling.rundir")),
    # What is measured: specs (driver side) and the rank-side code.
    ("workloads", ("scaling.workloads",)),
    # Ray actors and process groups that run the workloads on ranks.
    ("cluster", ("scaling.cluster",)),
    # Samples -> tables, verdicts, searches and models (pandas/numpy, no torch or Ray).
    ("collector", ("scaling.collector", "scaling.importers")),
    # What the collector's results become: text, plots, files for other tools.
    ("report", ("scaling.report", "scaling.sinks")),
    # The run config composed from every workload's section, and its loader.
    (
        "composition",
        ("scaling.config", "scaling.config.schema", "scaling.config.loader"),
    ),
    # The jobs: run, validate and tune, the measuring session they share (connect, place,
    # run directory, start manifest, interrupts, shutdown) and the outcome they end with.
    (
        "jobs",
        (
            "scaling.sweep",
            "scaling.validate",
            "scaling.tune",
            "scaling.session",
            "scaling.outcome",
            "scaling.run_outcome",
        ),
    ),
    ("api", ("scaling.api",)),
    ("cli", ("scaling.cli", "scaling.__main__")),
]


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    file: Path
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def floor_of(module: str) -> int:
    best, floor = -1, -1
    for i, (_, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, floor = len(prefix), i
    return floor


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known) -> list:
    """The scaling modules an import statement loads (a name may be a submodule)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            origin = ".".join(base + ([node.module] if node.module else []))
        else:
            origin = node.module or ""
        names = [
            f"{origin}.{a.name}" if f"{origin}.{a.name}" in known else origin for a in node.names
        ]
    out = []
    for name in names:
        if name != "scaling" and not name.startswith("scaling."):
            continue
        while name not in known and "." in name:
            name = name.rsplit(".", 1)[0]
        out.append(name)
    return out


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@functools.cache
def imports() -> tuple[Import, ...]:
    """Every import between scaling modules, lazy ones included, with the imports that the
    packages' __init__ files make at their top when a submodule is imported."""
    known = modules()
    direct: dict[str, list[tuple[str, int, bool]]] = {}
    for module, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        top = {id(n) for n in tree.body}
        found = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(node, module, path.name == "__init__.py", known):
                    found.append((target, node.lineno, id(node) in top))
        direct[module] = found
    out = []
    for module, found in direct.items():
        path = known[module]
        for target, line, _ in found:
            out.append(Import(module, target, path, line))
            for package in _parents(target):
                if package in known and not module.startswith(package + "."):
                    out += [
                        Import(module, t, path, line)
                        for t, _, at_top in direct[package]
                        if at_top and t != module
                    ]
    return tuple(i for i in out if i.source != i.target)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _where(i: Import) -> str:
    return f"{i.file.relative_to(PACKAGE.parent)}:{i.line}"


def _unit(module: str) -> str:
    """A package (scaling.x) on one floor: config's vocabulary and its root are two units."""
    return f"{'.'.join(module.split('.')[:2])}@{FLOORS[floor_of(module)][0]}"


def test_every_module_has_a_floor():
    unplaced = [m for m in modules() if floor_of(m) < 0]
    assert not unplaced, f"modules on no floor (add them to FLOORS): {unplaced}"


def test_no_import_reaches_up_a_floor():
    upward = []
    for i in imports():
        low, high = floor_of(i.source), floor_of(i.target)
        if high > low:
            upward.append(
                f"{_where(i)}: {i.source} (floor {low}, {FLOORS[low][0]}) imports "
                f"{i.target} (floor {high}, {FLOORS[high][0]})"
            )
    assert not upward, "imports reach up a floor:\n" + "\n".join(sorted(set(upward)))


def test_no_import_cycle_between_modules():
    edges: dict[str, set[str]] = {}
    for i in imports():
        edges.setdefault(i.source, set()).add(i.target)
    cycles = _cycles(edges)
    assert not cycles, "import cycles between modules:\n" + "\n".join(map(" <-> ".join, cycles))


def test_no_import_cycle_between_packages():
    edges: dict[str, set[str]] = {}
    witness: dict[tuple[str, str], Import] = {}
    for i in imports():
        a, b = _unit(i.source), _unit(i.target)
        if a != b:
            edges.setdefault(a, set()).add(b)
            witness.setdefault((a, b), i)
    lines = []
    for cycle in _cycles(edges):
        ties = [witness[(a, b)] for a in cycle for b in cycle if (a, b) in witness]
        lines.append(
            " <-> ".join(cycle) + ": " + "; ".join(f"{_where(i)} {i.target}" for i in ties)
        )
    assert not lines, "import cycles between packages:\n" + "\n".join(lines)


def _defined(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_every_module_colon_name_reference_exists():
    known = modules()
    dangling = []
    for path in known.values():
        for node in ast.walk(ast.parse(path.read_text())):
            value = node.value if isinstance(node, ast.Constant) else None
            if not isinstance(value, str) or not re.fullmatch(r"scaling(\.\w+)+:\w+", value):
                continue
            target, _, name = value.partition(":")
            if target not in known or name not in _defined(known[target]):
                dangling.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {value}")
    assert not dangling, "names of code that do not exist:\n" + "\n".join(dangling)
