"""How `scaling run` shows progress: a bar on a terminal, a line per world size elsewhere."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from scaling.api import RunHooks
from scaling.config.units import format_size


class RunProgress(RunHooks):
    """Notices and progress of a run on `console` (stderr: stdout may carry --json)."""

    def __init__(self, console: Console):
        self.console = console
        self.total = self.done_points = 0
        self.last_n = None
        self.bar: Progress | None = None

    def notice(self, text: str) -> None:
        self.console.print(text)

    def planned(self, run_dir: Path, points: int) -> None:
        self.console.print(f"run directory: {run_dir}")
        self.total = points
        if self.console.is_terminal:
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.task = self.bar.add_task("measuring", total=points)
            self.bar.__enter__()

    def point(self, point: dict) -> None:
        self.done_points += 1
        if self.bar:
            self.bar.update(self.task, advance=1, description=describe(point))
        elif point["world_size"] != self.last_n:
            self.last_n = point["world_size"]
            self.console.print(
                f"world size {self.last_n}: measuring ({self.done_points}/{self.total} points)"
            )

    def done(self) -> None:
        if self.bar:
            self.bar.__exit__(None, None, None)
            self.bar = None


def describe(point: dict) -> str:
    """A point in a few words: the op and size of a collective, else the workload."""
    if "op" in point:
        size = format_size(point.get("size_bytes", 0))
        return f"{point['op']} {point['world_size']} ranks {size}"
    return f"{point.get('workload', '')} {point['world_size']} ranks"
