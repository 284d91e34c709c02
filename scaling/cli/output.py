"""Terminal presentation of collector tables (rich), kept apart from the numbers."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

from scaling.config.units import format_size
from scaling.format import num, pct
from scaling.workloads.collectives import ops


def fmt(x, digits: int = 2) -> str:
    """nccl-tests' columns: fixed digits, no thousands separators."""
    return num(x, digits, sep=False)


def redop(op: str) -> str:
    return ops.get(op).redop if op in ops.OPS else "n/a"


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
        transport = rows["transport"].iloc[0] if "transport" in rows else None
        if isinstance(transport, str) and transport != "single rank":
            title += f" · transport: {transport}"
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
                redop(op),
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


def training_tables(table: pd.DataFrame, console: Console, device: str | None = None) -> None:
    """The scaling table: one per workload x preset x scaling x precision."""
    if table.empty:
        return
    per = "per GPU" if device == "cuda" else "per rank"
    keys = ["workload", "preset", "scaling", "precision"]
    for (workload, preset, scaling, precision), rows in table.groupby(keys, sort=False):
        batch = int(rows["batch_per_rank"].iloc[0])
        title = (
            f"{workload} — preset {preset}, {precision}, {scaling} scaling, "
            f"batch {batch}/rank{' at 1 rank' if scaling == 'strong' else ''} — synthetic data"
        )
        console.print(_training_table(rows, title, per))
    for note in _training_notes(table):
        console.print(f"  {note}.")


def _training_table(rows: pd.DataFrame, title: str, per: str) -> Table:
    tokens = rows["tokens_per_s"].notna().any()
    unit = "tokens/s" if tokens else "samples/s"
    t = Table(title=title, title_justify="left", header_style="bold")
    for col in ("ranks", "step p50 (ms)", f"throughput ({unit})", per, "efficiency",
                "comm fraction", "overlap", "MFU"):  # fmt: skip
        t.add_column(col, justify="right")
    t.add_column("flags", justify="left", overflow="fold")
    for r in rows.itertuples():
        ranks = str(r.world_size) + (f" ({r.nodes} nodes)" if r.nodes > 1 else "")
        if r.status != "ok":
            t.add_row(ranks, r.status, "", "", "", "", "", "", r.flags)
            continue
        rate = r.tokens_per_s if tokens else r.samples_per_s
        rate_per = r.tokens_per_s_per_gpu if tokens else r.samples_per_s_per_gpu
        t.add_row(
            ranks,
            fmt(r.step_time_p50_s * 1e3, 1),
            fmt(rate, 1),
            fmt(rate_per, 1),
            pct(r.efficiency),
            pct(r.comm_fraction),
            pct(r.overlap),
            pct(r.mfu),
            r.flags or "",
        )
    return t


def _training_notes(table: pd.DataFrame) -> list[str]:
    """What the columns mean, under the tables."""
    formula = {
        "weak": "weak: throughput(n) / (n x throughput(1))",
        "strong": "strong: T(1) / (n x T(n))",
    }
    used = [formula[s] for s in table["scaling"].unique() if s in formula]
    notes = [
        "efficiency " + "; ".join(used),
        "comm fraction = (t_ddp - t_no_sync) / t_ddp; overlap = 1 - exposed / all-reduce alone"
        " (1 rank runs without DDP: overlap n/a)",
    ]
    ok = table[table["status"] == "ok"]
    if ok["mfu"].isna().any():
        notes.append("MFU n/a: no peak FLOP/s known for this device and precision")
    return notes
