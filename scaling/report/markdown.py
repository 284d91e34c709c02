"""report.md: the document as GitHub-flavoured markdown; figures as PNGs in report_files/
(the text and the PNGs are written by scaling.sinks.report_files)."""

from __future__ import annotations

from scaling.report.document import Document, Figure, Items, Table, Text

FILES = "report_files"
BADGE = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "info": "INFO"}


def render(doc: Document) -> str:
    """The markdown text; each figure is a link to report_files/<name>.png (see figures)."""
    lines = [f"# {doc.title}", "", f"_{doc.subtitle}_", ""]
    if doc.banner:
        lines += [f"> **{doc.banner}**", ""]
    lines += ["Contents: " + " · ".join(f"[{s.title}](#{s.anchor})" for s in doc.sections), ""]
    for section in doc.sections:
        lines += [f'<a id="{section.anchor}"></a>', "", f"## {section.title}", ""]
        for block in section.blocks:
            lines += _block(block) + [""]
    return "\n".join(lines).rstrip() + "\n"


def figures(doc: Document) -> dict[str, bytes]:
    """The PNGs report.md links: path relative to the run directory -> bytes."""
    return {
        _figure_path(block): block.png
        for section in doc.sections
        for block in section.blocks
        if isinstance(block, Figure)
    }


def _figure_path(figure: Figure) -> str:
    return f"{FILES}/{figure.name}.png"


def _block(block) -> list[str]:
    if isinstance(block, Text):
        if block.kind == "h3":
            return [f"### {block.text}"]
        return [f"_{block.text}_" if block.kind == "note" else block.text]
    if isinstance(block, Items):
        return [f"- **{BADGE[lv]}** {t}" if lv in BADGE else f"- {t}" for lv, t in block.items]
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return [f"![{block.caption}]({_figure_path(block)})", "", f"_{block.caption}_"]
    raise TypeError(f"unknown block {type(block).__name__}")


def _table(t: Table) -> list[str]:
    def row(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    align = [":---" if i < t.align_left else "---:" for i in range(len(t.columns))]
    out = [row(t.columns), "| " + " | ".join(align) + " |"] + [row(r) for r in t.rows]
    if t.caption:
        out += ["", f"_{t.caption}_"]
    return out
