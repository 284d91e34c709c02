"""Navigation by name: two modules share a file name only when they play the same part in
parallel packages (one job's CLI, config and report layers; two workloads' rank sides), and
then the first line of each docstring names the others."""

import ast
from collections import defaultdict
from pathlib import Path

SCALING = Path(__file__).resolve().parent.parent / "scaling"
# Renamed elsewhere in this round of work (the measuring session, tune's trials); a package's
# __init__.py is its own name.
EXEMPT = {"__init__.py", "session.py", "trials.py"}


def _first_line(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return doc.splitlines()[0] if doc else ""


def test_shared_file_names_say_which_parallel_files_they_go_with():
    by_name = defaultdict(list)
    for path in SCALING.rglob("*.py"):
        by_name[path.name].append(path)
    unexplained = []
    for name, paths in sorted(by_name.items()):
        if len(paths) < 2 or name in EXEMPT:
            continue
        for path in paths:
            line = _first_line(path)
            others = [f"{p.parent.name}/{p.name}" for p in paths if p != path]
            missing = [o for o in others if o not in line]
            if missing:
                unexplained.append(f"{path.relative_to(SCALING)}: first line names no {missing}")
    assert unexplained == [], "\n".join(unexplained)
