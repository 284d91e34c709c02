"""`scaling run` through click's CliRunner (in-process, real Ray) and as a real subprocess."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from scaling.cli import main
from scaling.collector.formulas import busbw_factor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_help_has_examples():
    r = invoke("run", "--help")
    assert r.exit_code == 0
    assert "Examples:" in r.output and "scaling run --gpus 1,2" in r.output
    assert invoke("--version").output.startswith("scaling, version")


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--gpus", "0"], "world size must be >= 1"),
        (["--gpus", "-1"], "world size must be >= 1"),
        (["--gpus", "a"], "'a' is not an integer"),
        (["--ops", "all_reduce,bogus"], "unknown 'bogus'"),
        (["--min-bytes", "4M", "--max-bytes", "1M"], "min_bytes"),
        (["--min-bytes", "lots"], "not a byte size"),
        (["--dtype", "float64"], "unknown 'float64'"),
        (["--workloads", "collectives,bogus"], "unknown 'bogus'"),
        (["--device", "tpu"], "'tpu' is not one of"),
        (["--timing", "fast"], "'fast' is not one of"),
        (["--env", "NOEQUALS"], "expected NAME=VALUE"),
        (["--env", "A B=1"], "'A B' is not a valid variable name"),
        (["--env", "1A=1"], "'1A' is not a valid variable name"),
        (["--config", "/nonexistent.toml"], "config file not found"),
        (["--address", "127.0.0.1:1"], "cannot reach Ray cluster at 127.0.0.1:1"),
        (["--address", "nonsense"], "is not auto or HOST:PORT"),
        (["--bogus-flag"], "No such option"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, needle, tmp_path):
    r = invoke("run", *args, "--out", str(tmp_path / "r"))
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], r.stderr
    assert "Traceback" not in r.output
    assert not (tmp_path / "r").exists()  # nothing half-created for a refused run


def test_device_cuda_without_a_gpu_is_refused_before_ray_starts(tmp_path, monkeypatch):
    """A local Ray offers the GPUs this host shows; CUDA_VISIBLE_DEVICES="" hides any there
    are, so the refusal is the same on a GPU host. With --address the GPUs are the cluster's:
    known only after connecting (here: the unreachable address is the error)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for command in ("run", "validate"):
        r = invoke(command, "--device", "cuda", "--gpus", "1", "--out", str(tmp_path / command))
        assert r.exit_code == 2, r.output
        # the refusal is the only line: no "starting a local Ray", no "placing" came before it
        # (ray.is_initialized() would depend on the tests before: conftest's Ray stays up)
        (line,) = r.stderr.strip().splitlines()
        assert line.startswith("Error: --device cuda, but this host has no GPU for a local Ray")
        assert not (tmp_path / command).exists()
    r = invoke("run", "--device", "cuda", "--address", "127.0.0.1:1", "--out", str(tmp_path / "a"))
    assert r.exit_code == 2 and "cannot reach Ray cluster at 127.0.0.1:1" in r.stderr


@pytest.mark.parametrize("visible,count", [(None, 4), ("0,1", 2), ("", 0), ("NoDevFiles", 0)])
def test_local_gpus_follow_nvml_and_cuda_visible_devices(monkeypatch, visible, count):
    """Pure logic on the GPU path, with a stand-in NVML that counts 4 GPUs."""
    from types import SimpleNamespace

    from scaling.cluster.local_device import check_cuda_here, local_gpus
    from scaling.hardware import nvml

    fake = SimpleNamespace(nvmlInit=lambda: None, nvmlShutdown=lambda: None,
                           nvmlDeviceGetCount=lambda: 4)  # fmt: skip
    monkeypatch.setattr(nvml, "pynvml", fake)
    monkeypatch.setattr(nvml, "init_failure", lambda: None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert local_gpus()[0] == count
    if count:
        check_cuda_here("cuda", None)  # no error
    else:
        with pytest.raises(ValueError, match="hides them"):
            check_cuda_here("cuda", None)
    check_cuda_here("cuda", "10.0.0.1:6379")  # the cluster's GPUs: known only once connected


@pytest.mark.parametrize(
    "text,needle",
    [
        ("gpus = [1, 2\n", "malformed TOML"),
        ("[collectives]\nwarmupz = 1\n", "unknown config key 'collectives.warmupz'"),
    ],
)
def test_bad_config_file_exit_2(tmp_path, text, needle):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    r = invoke("run", "--config", str(f))
    assert r.exit_code == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_more_ranks_than_the_cluster_can_place(ray_local, tmp_path):
    r = invoke("run", "--gpus", "1,8", "--out", str(tmp_path / "r"))
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [  # the progress line, then the one-line error
        "placing 8 ranks",
        "Error: --gpus 8 needs 8 CPUs (one per CPU rank), but the Ray cluster has 2",
    ]


@pytest.mark.slow
def test_run_two_world_sizes_two_ops(ray_local, tmp_path):
    """Two ops at two world sizes in-process: the tables, the manifest, the samples, and the
    report the run ends with (once test_report_cli.py's own run)."""
    out = tmp_path / "run"
    r = invoke(
        "run",
        "--gpus",
        "1,2",
        "--workloads",
        "collectives",
        "--ops",
        "all_reduce,all_gather",
        "-b",
        "1K",
        "-e",
        "64K",
        "-w",
        "1",
        "-n",
        "4",
        "--repeats",
        "1",
        "--out",
        str(out),
        "--json",
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["status"] == "ok" and result["device"] == "cpu" and result["backend"] == "gloo"
    assert "no GPUs in the Ray cluster: running 2 ranks on CPU with gloo" in r.stderr

    s = pd.read_csv(out / "summary.csv")
    sizes = [1024 << i for i in range(7)]
    for op in ("all_reduce", "all_gather"):
        for n in (1, 2):
            rows = s[(s.op == op) & (s.world_size == n)]
            assert rows["size_bytes"].tolist() == sizes, (op, n)
    assert (s["wrong"] == 0).all()
    # On CPU the bytes go over gloo's TCP; one rank crosses no link.
    assert set(s.loc[s.world_size == 2, "transport"]) == {"gloo/tcp"}
    assert set(s.loc[s.world_size == 1, "transport"]) == {"single rank"}
    # busbw recomputed from the reported time equals the reported busbw; n/a at one rank
    for row in s.itertuples():
        f = busbw_factor(row.op, row.world_size)
        if f is None:
            assert pd.isna(row.busbw_gbps)
        else:
            assert row.busbw_gbps == pytest.approx(
                row.size_bytes / (row.time_p50_us * 1e-6) / 1e9 * f
            )

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["ended"]
    assert len(manifest["ranks"]) == 2 and manifest["ranks"][0]["device"] == "cpu"
    assert {"node_id", "node_ip", "hostname", "pid", "torch", "nccl", "cuda"} <= set(
        manifest["ranks"][0]
    )
    lines = (out / "samples.jsonl").read_text().splitlines()
    timed = [json.loads(x) for x in lines if '"type":"coll"' in x]
    # one record per rank per iteration per point: 2 ops x 7 sizes x (1 + 2 ranks) x 4 iters
    assert len(timed) == 2 * 7 * 3 * 4

    # the run ends with a report, named in --json and on stderr
    assert result["report"] == {
        "report_md": str(out / "report.md"),
        "report_html": str(out / "report.html"),
    }
    assert f"report: {out / 'report.html'}" in r.stderr
    md = (out / "report.md").read_text()
    assert "all_reduce float32 busbw at 2 ranks, 64K" in md and "no ceiling: CPU/gloo" in md
    assert (out / "summary.parquet").exists()


@pytest.mark.slow
def test_fresh_process_quick_config(tmp_path):
    """The README path: a new process starts its own local Ray, runs, exits 0."""
    out = tmp_path / "q"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "scaling",
            "run",
            "--config",
            "configs/quick.toml",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert "busbw" in p.stdout and "all_gather" in p.stdout
    s = pd.read_csv(out / "summary.csv")
    assert set(s.world_size) == {1, 2} and set(s.op) == {"all_reduce", "all_gather"}
