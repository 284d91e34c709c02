"""Training, report layer (collector/training.py builds it): curves, step breakdown, stragglers.

The report's training sections: scaling curves, step-time breakdown and stragglers.
"""

from __future__ import annotations

from scaling import format as f
from scaling.collector.curves import rank_list
from scaling.collector.loaded_run import Run
from scaling.report import plots
from scaling.report.document import Col, Section, Table, Text, add_figure, records_table

NO_TRAINING = "No training workloads in this run (see `scaling run --workloads`)."


def _label(r: dict) -> str:
    return plots.curve_label(r)


def scaling_section(run: Run) -> Section:
    s = Section("Training scaling", "training")
    if run.training.empty:
        s.blocks.append(Text(NO_TRAINING))
        return s
    add_figure(
        s,
        "throughput",
        plots.throughput_vs_gpus(run.curves),
        "Throughput vs GPUs; dashed: ideal linear scaling, n × the 1-rank throughput.",
    )
    add_figure(
        s,
        "efficiency",
        plots.efficiency(run.curves),
        "Scaling efficiency per world size. Weak: throughput(n) / (n · throughput(1)); "
        "strong: T(1) / (n · T(n)).",
    )
    s.blocks += records_table(
        _with_ideal(run),
        THROUGHPUT,
        "Throughput from the slowest rank's step time; step percentiles over measured steps.",
    )
    s.blocks.append(Text("Utilisation, memory and checks", kind="h3"))
    cpu = run.manifest.get("device") == "cpu"
    s.blocks += records_table(run.training.to_dict(orient="records"), _checks_columns(cpu))
    return s


NO_ONE = "no 1-rank point"
THROUGHPUT = [
    Col("workload", _label),
    Col("ranks", lambda r: f.integer(r["world_size"])),
    Col("status", lambda r: f.text(r.get("status"), "?")),
    Col("samples/s", lambda r: f.num(r["samples_per_s"], 1)),
    Col("per GPU", lambda r: f.num(r["samples_per_s_per_gpu"], 1)),
    Col("ideal", lambda r: f.num(r["ideal_samples_per_s"], 1, why=NO_ONE)),
    Col("efficiency", lambda r: f.pct(r["efficiency"], why=NO_ONE)),
    Col(
        "tokens/s",
        lambda r: f.num(r.get("tokens_per_s"), 0, why="not a token model"),
        "tokens_per_s",
        "no token model",
    ),
    Col("step p50 (ms)", lambda r: f.ms(r["step_time_p50_s"])),
    Col("p90", lambda r: f.ms(r["step_time_p90_s"])),
    Col("p99", lambda r: f.ms(r["step_time_p99_s"])),
]


def _checks_columns(cpu: bool) -> list[Col]:
    """Utilisation, memory and check columns; their n/a reasons depend on the device."""
    mfu_why = "no peak FLOP/s for a CPU" if cpu else "peak FLOP/s unknown for this device"
    nvml_why = "no NVML on CPU" if cpu else "not sampled"
    return [
        Col("workload", _label),
        Col("ranks", lambda r: f.integer(r["world_size"])),
        Col("TFLOP/s", lambda r: f.sig(r.get("achieved_tflops")), "achieved_tflops", "no FLOPs"),
        Col("MFU", lambda r: f.pct(r.get("mfu"), why=mfu_why), "mfu", mfu_why),
        Col(
            "peak mem",
            lambda r: f.bytes_h(r.get("peak_mem_bytes_max")),
            "peak_mem_bytes_max",
            "not measured",
        ),
        Col("mem max/min", lambda r: f.num(r.get("mem_balance")), "mem_balance", "not measured"),
        Col("power (W)", lambda r: f.num(r.get("power_w"), 0, why=nvml_why), "power_w", nvml_why),
        Col(
            "samples/s/W",
            lambda r: f.sig(r.get("samples_per_s_per_w"), why=nvml_why),
            "samples_per_s_per_w",
            nvml_why,
        ),
        Col(
            "GPU util %",
            lambda r: f.num(r.get("gpu_util_pct"), 0, why=nvml_why),
            "gpu_util_pct",
            nvml_why,
        ),
        Col("params equal", lambda r: _consistent(r.get("consistent"))),
        Col(
            "stragglers",
            lambda r: ", ".join(map(str, rank_list(r.get("straggler_ranks")))) or "none",
        ),
        Col("flags", lambda r: f.text(r.get("flags"), "none")),
    ]


def _with_ideal(run: Run) -> list[dict]:
    """Training rows with the curve's ideal throughput beside them."""
    ideal = {
        (r["workload"], r["world_size"], r["samples_per_s"]): r["ideal_samples_per_s"]
        for r in run.curves.to_dict(orient="records")
    }
    rows = run.training.to_dict(orient="records")
    for r in rows:
        r["ideal_samples_per_s"] = ideal.get((r["workload"], r["world_size"], r["samples_per_s"]))
    return rows


def _consistent(v) -> str:
    if f.missing(v):
        return f.na("not checked")
    return "yes" if str(v).lower() in ("true", "1", "1.0", "yes") else "NO"


def breakdown_section(run: Run) -> Section:
    s = Section("Where the step time goes", "breakdown")
    if run.training.empty:
        s.blocks.append(Text(NO_TRAINING))
        return s
    add_figure(
        s,
        "breakdown",
        plots.step_breakdown(run.training),
        "Compute (the same step with gradient sync skipped, t_local) and exposed communication "
        "(t_ddp − t_local) per world size; the black tick is the DDP step.",
    )
    cols = [
        Col("workload", _label),
        Col("ranks", lambda r: f.integer(r["world_size"])),
        Col("t_ddp (ms)", lambda r: f.ms(r["t_ddp_s"])),
        Col("t_local (ms)", lambda r: f.ms(r["t_local_s"])),
        Col(
            "t_comm (ms)",
            lambda r: f.ms(r["t_comm_s"], why="1 rank" if r["world_size"] == 1 else "not measured"),
        ),
        Col("exposed comm (ms)", lambda r: f.ms(r["exposed_comm_s"])),
        Col("comm fraction", lambda r: f.pct(r["comm_fraction"])),
        Col(
            "overlap",
            lambda r: f.pct(r["overlap"], why="no t_comm" if f.missing(r["t_comm_s"]) else None),
        ),
    ]
    s.blocks += records_table(
        run.training.to_dict(orient="records"),
        cols,
        "exposed = t_ddp − t_local; comm fraction = exposed / t_ddp; "
        "overlap = 1 − exposed / t_comm.",
    )
    return s


def straggler_section(run: Run, shown_per_size: int = 8) -> Section:
    s = Section("Per-rank step time (stragglers)", "stragglers")
    p = run.per_rank
    if p.empty:
        s.blocks.append(Text("No per-rank step samples in this run."))
        return s
    add_figure(
        s,
        "per_rank",
        plots.per_rank_times(p),
        "Each rank's median step time over the median rank's. The compute-only timing is used "
        "where measured: in a DDP step the all-reduce makes every rank wait for the slowest.",
    )
    rows = []
    for (workload, n), g in p.groupby(["workload", "world_size"], sort=True):
        if n == 1:
            continue
        for r in g.sort_values("vs_median", ascending=False).head(shown_per_size).itertuples():
            rows.append(
                [
                    workload,
                    str(n),
                    str(r.rank),
                    r.phase,
                    str(r.steps),
                    f.ms(r.time_p50_s),
                    f"{r.vs_median:.3f}×",
                ]
            )
    s.blocks.append(
        Table(
            ["workload", "ranks", "rank", "timing", "steps", "median (ms)", "vs median rank"],
            rows,
            caption=f"The slowest {shown_per_size} ranks of each world size, slowest first.",
        )
    )
    return s
