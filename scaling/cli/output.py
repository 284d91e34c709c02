"""Terminal presentation of collector tables (rich), kept apart from the numbers."""

from __future__ import annotations

import math

import pandas as pd
from rich.console import Console
from rich.table import Table

from scaling.config.units import format_size

REDOP = {"all_reduce": "sum", "reduce_scatter": "sum"}


def fmt(x, digits: int = 2, na: str = "n/a") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return na
    return f"{x:.{digits}f}"


def collectives_tables(summary: pd.DataFrame, console: Console) -> None:
    """One nccl-tests-like table per (group, op, dtype, world size)."""
    if summary.empty:
        return
    for (group, op, dtype, n, shape, span), rows in summary.groupby(
        ["group", "op", "dtype", "world_size", "shape", "span"], sort=False
    ):
        title = f"[bold]{op} {dtype}[/] · {shape} ranks, {span}"
        if group != "world":
            title += f" ({group} view of world size {n})"
        link = rows["link_class"].iloc[0] if "link_class" in rows else None
        if isinstance(link, str):
            ceiling = rows["ceiling_gbps"].iloc[0]
            title += f" · link: {link}" + (
                "" if pd.isna(ceiling) else f", ceiling {ceiling:.1f} GB/s"
            )
        # A heading line, not a table title: rich wraps titles to the table's width.
        console.print(title)
        t = Table(header_style="bold")
        for col in (
            "size",
            "count",
            "type",
            "redop",
            "time p50 (us)",
            "p90",
            "p99",
            "algbw (GB/s)",
            "busbw (GB/s)",
            "#wrong",
        ):
            t.add_column(col, justify="right")
        for r in rows.itertuples():
            wrong = "n/a" if pd.isna(r.wrong) else str(int(r.wrong))
            t.add_row(
                format_size(int(r.size_bytes)),
                str(int(r.count)),
                dtype,
                REDOP.get(op, "none"),
                fmt(r.time_p50_us, 1),
                fmt(r.time_p90_us, 1),
                fmt(r.time_p99_us, 1),
                fmt(r.algbw_gbps, 3),
                fmt(r.busbw_gbps, 3),
                wrong,
            )
        console.print(t)
        if rows["ranks"].iloc[0] == 1:
            console.print("  busbw n/a at 1 rank: no data crosses a link (nccl-tests factor is 0).")
