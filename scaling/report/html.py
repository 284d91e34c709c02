"""report.html: one self-contained file. Figures are base64 PNGs, styles inline; no script,
no font or stylesheet from the network, so it opens offline and attaches to a ticket."""

from __future__ import annotations

import base64
import html
import re

from scaling.report.document import Document, Figure, Items, Table, Text

CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d1d1f;
       max-width: 1080px; margin: 24px auto; padding: 0 20px; }
h1 { font-size: 24px; margin-bottom: 2px; }
h2 { font-size: 19px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 34px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.sub { color: #666; margin-top: 0; }
.banner { background: #fff3cd; border: 1px solid #e0b000; padding: 10px 14px; font-weight: 600; }
nav a { margin-right: 12px; }
ul.items { padding-left: 0; list-style: none; }
ul.items li { margin: 4px 0; }
.badge { display: inline-block; min-width: 38px; text-align: center; font-size: 11px;
         font-weight: 700; border-radius: 3px; padding: 1px 4px; margin-right: 6px; color: #fff; }
.pass { background: #2e7d32; } .warn { background: #b26a00; } .fail { background: #c62828; }
.info { background: #546e7a; }
table { border-collapse: collapse; margin: 6px 0 4px; font-size: 12.5px; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 3px 9px; white-space: nowrap; }
th { background: #f4f5f7; text-align: right; }
td { text-align: right; font-variant-numeric: tabular-nums; }
th.l, td.l { text-align: left; }
.scroll { overflow-x: auto; }
.caption, .note { color: #555; font-size: 12.5px; font-style: italic; margin: 2px 0 14px; }
figure { margin: 10px 0; }
figure img { max-width: 100%; }
"""


def render(doc: Document) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(doc.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(doc.title)}</h1>",
        f'<p class="sub">{e(doc.subtitle)}</p>',
    ]
    if doc.banner:
        parts.append(f'<p class="banner">{e(doc.banner)}</p>')
    links = "".join(f'<a href="#{s.anchor}">{e(s.title)}</a>' for s in doc.sections)
    parts.append(f"<nav>{links}</nav>")
    for section in doc.sections:
        parts.append(f'<h2 id="{section.anchor}">{e(section.title)}</h2>')
        parts += [_block(b) for b in section.blocks]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _inline(text: str) -> str:
    """Escape, then honour the one markdown emphasis the content uses: **bold**."""
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))


def _block(block) -> str:
    if isinstance(block, Text):
        if block.kind == "h3":
            return f"<h3>{_inline(block.text)}</h3>"
        cls = ' class="note"' if block.kind == "note" else ""
        return f"<p{cls}>{_inline(block.text)}</p>"
    if isinstance(block, Items):
        items = []
        for level, text in block.items:
            badge = f'<span class="badge {level}">{level.upper()}</span>' if level else ""
            items.append(f"<li>{badge}{_inline(text)}</li>")
        return '<ul class="items">' + "".join(items) + "</ul>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        data = base64.b64encode(block.png).decode("ascii")
        alt = html.escape(block.caption, quote=True)
        return (
            f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
            f'<figcaption class="caption">{html.escape(block.caption)}</figcaption></figure>'
        )
    raise TypeError(f"unknown block {type(block).__name__}")


def _table(t: Table) -> str:
    def cls(i: int) -> str:
        return ' class="l"' if i < t.align_left else ""

    head = "".join(f"<th{cls(i)}>{html.escape(c)}</th>" for i, c in enumerate(t.columns))
    if not any(t.columns):
        head = ""
    body = "".join(
        "<tr>"
        + "".join(f"<td{cls(i)}>{html.escape(str(c))}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in t.rows
    )
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    caption = f'<p class="caption">{html.escape(t.caption)}</p>' if t.caption else ""
    return f'<div class="scroll"><table>{thead}<tbody>{body}</tbody></table></div>{caption}'
