"""report.md: the document as GitHub-flavoured markdown; figures as PNGs in report_files/."""

from __future__ import annotations

from pathlib import Path

from scaling.report.document import Document, Figure, Items, Table, Text

FILES = "report_files"
BADGE = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "info": "INFO"}


def render(doc: Document, out_dir: Path) -> str:
    """The markdown text; writes each figure to out_dir/report_files/<name>.png."""
    lines = [f"# {doc.title}", "", f"_{doc.subtitle}_", ""]
    if doc.banner:
        lines += [f"> **{doc.banner}**", ""]
    lines += ["Contents: " + " · ".join(f"[{s.title}](#{s.anchor})" for s in doc.sections), ""]
    for section in doc.sections:
        lines += [f'<a id="{section.anchor}"></a>', "", f"## {section.title}", ""]
        for block in section.blocks:
            lines += _block(block, out_dir) + [""]
    return "\n".join(lines).rstrip() + "\n"


def _block(block, out_dir: Path) -> list[str]:
    if isinstance(block, Text):
        if block.kind == "h3":
            return [f"### {block.text}"]
        return [f"_{block.text}_" if block.kind == "note" else block.text]
    if isinstance(block, Items):
        return [f"- **{BADGE[lv]}** {t}" if lv in BADGE else f"- {t}" for lv, t in block.items]
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        files = out_dir / FILES
        files.mkdir(exist_ok=True)
        (files / f"{block.name}.png").write_bytes(block.png)
        return [f"![{block.caption}]({FILES}/{block.name}.png)", "", f"_{block.caption}_"]
    raise TypeError(f"unknown block {type(block).__name__}")


def _table(t: Table) -> list[str]:
    def row(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    align = [":---" if i < t.align_left else "---:" for i in range(len(t.columns))]
    out = [row(t.columns), "| " + " | ".join(align) + " |"] + [row(r) for r in t.rows]
    if t.caption:
        out += ["", f"_{t.caption}_"]
    return out
