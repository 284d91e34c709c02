"""The report as data: sections of paragraphs, verdicts, tables and figures.

`content.build(run)` fills one; `markdown.render` and `html.render` each write it out, so
the two files always hold the same sections, numbers and words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from scaling.format import missing
from scaling.report.plots import png


@dataclass
class Text:
    text: str
    kind: str = "p"
    """p (a paragraph) or note (smaller print: what a figure means, why something is n/a)."""


@dataclass
class Items:
    """A bulleted list; each item optionally tagged with a level (pass, warn, fail, info)."""

    items: list[tuple[str, str]]
    """(level or "", text)."""


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    align_left: int = 1
    """How many leading columns are labels (left-aligned); the rest are numbers."""


@dataclass
class Figure:
    name: str
    """File stem: report_files/<name>.png next to report.md."""
    png: bytes
    caption: str


Block = Text | Items | Table | Figure


@dataclass
class Section:
    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    title: str
    subtitle: str
    banner: str | None
    """Shown above everything when set (a partial run)."""
    sections: list[Section] = field(default_factory=list)


@dataclass
class Col:
    """One column of a table built from records: its header, how a record's cell reads, and
    the record key it shows (a column whose key is missing in every record is dropped and
    named in a note, with `why`, instead of repeating n/a down the page)."""

    header: str
    cell: Callable[[dict], str]
    key: str | None = None
    why: str | None = None


def records_table(
    records: list[dict], cols: list[Col], caption: str = "", align_left: int = 1
) -> list[Block]:
    def known(c: Col) -> bool:
        return c.key is None or any(not missing(r.get(c.key)) for r in records)

    shown = [c for c in cols if known(c)]
    blocks: list[Block] = [
        Table(
            [c.header for c in shown],
            [[c.cell(r) for c in shown] for r in records],
            caption,
            align_left,
        )
    ]
    dropped: dict[str, list[str]] = {}
    for c in cols:
        if not known(c):
            dropped.setdefault(c.why or "unknown", []).append(c.header)
    if dropped:
        notes = [f"{', '.join(h)}: n/a ({why})" for why, h in dropped.items()]
        blocks.append(Text("Not shown, unknown for every point: " + "; ".join(notes) + ".", "note"))
    return blocks


def add_figure(s: Section, name: str, fig, caption: str) -> None:
    """The figure as a PNG block, or a note when the run has nothing to draw (fig is None)."""
    if fig is None:
        s.blocks.append(Text(f"Nothing to plot for {name}.", kind="note"))
        return
    s.blocks.append(Figure(name, png(fig), caption))
