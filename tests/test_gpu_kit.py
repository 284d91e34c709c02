"""The GPU kit (benchmarks/gpu/) without a GPU: its wheel surgery, its package list, and
check.sh's dry run on CPU, for real, so the script cannot rot between device sessions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KIT = ROOT / "benchmarks" / "gpu"
sys.path.insert(0, str(KIT))

import gpu_path  # noqa: E402
import packages  # noqa: E402
import slim_wheel  # noqa: E402
import summarize  # noqa: E402

STEPS = ["install", "env", "doctor", "topo", "run", "fidelity", "multirank", "validate", "pytest"]


def make_wheel(path: Path, files: dict[str, bytes], record_extra: str = "") -> Path:
    """A wheel whose RECORD lists `files` with their true hashes (plus `record_extra` rows)."""
    record = "".join(f"{n},{slim_wheel.record_hash(d)},{len(d)}\n" for n, d in files.items())
    record += record_extra + "demo-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o755 if name.endswith("server") else 0o644) << 16
            z.writestr(info, data)
        z.writestr("demo-1.0.dist-info/RECORD", record)
    return path


FILES = {
    "demo/__init__.py": b"x = 1\n",
    "demo/core/server": b"\x7fELF pretend binary",
    "demo/jars/big.jar": b"J" * 5000,
    "demo-1.0.dist-info/METADATA": b"Name: demo\nVersion: 1.0\n",
}


def test_record_hash_matches_what_pip_wrote():
    from importlib.metadata import files

    rows = [f for f in files("packaging") if f.hash and f.suffix == ".py"]
    assert rows
    for f in rows[:5]:  # RECORD rows pip wrote when it installed packaging here
        assert slim_wheel.record_hash(f.locate().read_bytes()) == f"{f.hash.mode}={f.hash.value}"


def test_slim_drops_members_rewrites_record_and_keeps_modes(tmp_path):
    src = make_wheel(tmp_path / "demo-1.0-py3-none-any.whl", FILES)
    assert slim_wheel.verify(src) == []
    dest = tmp_path / "out" / src.name
    dest.parent.mkdir()
    assert slim_wheel.slim(src, dest, ["demo/jars/"]) == ["demo/jars/big.jar"]
    assert slim_wheel.verify(dest) == []
    with zipfile.ZipFile(dest) as z:
        names = z.namelist()
        record = z.read("demo-1.0.dist-info/RECORD").decode()
        mode = z.getinfo("demo/core/server").external_attr >> 16
        assert z.read("demo/__init__.py") == b"x = 1\n"
    assert "demo/jars/big.jar" not in names and "big.jar" not in record
    assert names[-1] == "demo-1.0.dist-info/RECORD"
    assert mode & 0o111, "an executable (Ray's gcs_server, raylet) must stay executable"


def test_verify_names_every_mismatch(tmp_path):
    tampered = dict(FILES, **{"demo/__init__.py": b"x = 2\n"})
    wheel = make_wheel(tmp_path / "demo-1.0-py3-none-any.whl", FILES)
    with zipfile.ZipFile(wheel, "a") as z:
        z.writestr("demo/extra.py", b"not in RECORD")
    problems = slim_wheel.verify(wheel)
    assert problems == ["demo/extra.py: in the wheel, not in RECORD"]

    bad = make_wheel(tmp_path / "bad.whl", tampered, record_extra="demo/gone.py,sha256=x,1\n")
    with zipfile.ZipFile(bad) as z, zipfile.ZipFile(tmp_path / "mix.whl", "w") as out:
        for info in z.infolist():  # the old RECORD with one file's content changed
            data = z.read(info)
            if info.filename.endswith("RECORD"):
                data = data.replace(
                    slim_wheel.record_hash(b"x = 2\n").encode(),
                    slim_wheel.record_hash(b"x = 1\n").encode(),
                )
            out.writestr(info, data)
    problems = slim_wheel.verify(tmp_path / "mix.whl")
    assert any(p.startswith("demo/__init__.py: RECORD says") for p in problems), problems
    assert "demo/gone.py: in RECORD, not in the wheel" in problems


def test_slim_wheel_cli_refuses_a_prefix_that_drops_nothing(tmp_path):
    src = make_wheel(tmp_path / "demo-1.0-py3-none-any.whl", FILES)
    cmd = [sys.executable, str(KIT / "slim_wheel.py"), str(src), str(tmp_path / "o")]
    p = subprocess.run([*cmd, "--drop", "nothing/"], capture_output=True, text=True)
    assert p.returncode == 1 and "nothing in demo-1.0-py3-none-any.whl" in p.stderr


def test_carried_packages_are_ray_and_what_the_image_lacks():
    from importlib.metadata import version

    carried = dict(spec.split("==") for spec in packages.carry())
    assert carried["ray"] == version("ray")  # the Ray tested here is the one the device runs
    assert {"jsonschema", "referencing", "rpds-py", "jsonschema-specifications"} <= set(carried)
    present = packages.device_packages()
    assert {"torch", "numpy", "pandas", "click", "msgpack", "protobuf", "pyyaml"} <= present
    assert not set(carried) & present
    assert packages.check() == []  # this venv satisfies every requirement it walks


def test_source_hash_follows_the_code(tmp_path):
    (tmp_path / "scaling" / "sub").mkdir(parents=True)
    (tmp_path / "scaling" / "a.py").write_text("a = 1\n")
    (tmp_path / "scaling" / "sub" / "b.py").write_text("b = 1\n")
    first = packages.source_hash(tmp_path)
    assert packages.source_hash(tmp_path) == first
    (tmp_path / "scaling" / "sub" / "b.py").write_text("b = 2\n")
    assert packages.source_hash(tmp_path) != first


def test_summary_judges_a_goal_only_where_the_run_matches_it():
    def row(workload, preset, **figures):
        return {
            "workload": workload,
            "world_size": 1,
            "preset": preset,
            "precision": "bf16",
            **figures,
        }

    run = {
        "training": [
            row("resnet50", "imagenet", samples_per_s=3100.0),
            row("transformer", "gpt2-medium", mfu=0.41),
        ]
    }
    topo = {"transfers": {"vs_ceiling": [{"test": "h2d", "ratio": 0.9, "ceiling_gbps": 63.0}]}}
    fidelity = {"resnet50": {"ratio": 1.01}, "transformer": {"ratio": 1.06}}
    verdicts = [g["verdict"] for g in summarize.goals("cuda", run, topo, fidelity)]
    assert verdicts == ["meets", "below goal", "meets", "meets", "below goal"]

    run["training"][0]["preset"] = "tiny"  # not the goal's configuration: no verdict
    gls = summarize.goals("cuda", run, None, None)
    assert gls[0]["verdict"] == "n/a" and "not resnet50 imagenet bf16" in gls[0]["why"]
    assert gls[0]["measured"] == 3100.0  # the figure is still shown
    assert all(g["verdict"] == "n/a" for g in summarize.goals("cpu", run, topo, fidelity))
    text = summarize.render_goals(summarize.goals("cuda", run, topo, fidelity))
    assert "why lower: not established by the kit" in "\n".join(text)


def test_summary_shows_the_false_alarm_rates_when_that_step_ran(tmp_path):
    result = {  # the shape benchmarks/compare_false_alarms.py --json writes
        "sets": {"size": 5, "false_alarms": {"rate": 0.02}, "class25": {"rate": 0.97},
                 "uniform25": {"rate": 1.0}},
        "single": {"same": {"regression_rate": 0.0, "undecided_share": 0.4}},
        "run_time_s": {"wall_median_s": 21.0},
    }  # fmt: skip
    (tmp_path / "false-alarms.json").write_text(json.dumps(result))
    figs = summarize.figures(tmp_path, None, None, None, None)
    assert figs["false_alarms"]["sets_class25_caught"] == 0.97
    line = summarize.render_figures(figs)[-1]
    assert "sets of 5: false alarms 2.0%" in line and "class slowdown caught 97%" in line
    assert "uniform 25% 100%" in line and "undecided 40%" in line and "21 s per run" in line
    empty = summarize.figures(tmp_path / "none", None, None, None, None)
    assert empty["false_alarms"] is None
    assert not any("identical CPU runs" in x for x in summarize.render_figures(empty))


def check_sh(*args: str, out: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "OUT")}
    env["PYTHON"] = sys.executable
    cmd = ["bash", str(KIT / "check.sh"), "--device", "cpu", "--out", str(out), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def test_check_sh_bad_arguments_are_one_line_exit_2(tmp_path):
    for args, needle in (
        (["--steps", "doctor,nope"], "unknown step nope"),
        (["--budget", "soon"], "--budget is whole seconds"),
        (["--frobnicate"], "unknown argument --frobnicate"),
        (["--budget"], "--budget needs a value"),
    ):
        p = check_sh(*args, out=tmp_path / "o")
        assert p.returncode == 2 and needle in p.stderr and len(p.stderr.splitlines()) == 1


def test_check_sh_never_starts_a_step_the_budget_cannot_hold(tmp_path):
    out = tmp_path / "out"
    p = check_sh("--budget", "30", out=out)
    assert p.returncode == 1, p.stdout + p.stderr
    steps = json.loads((out / "figures.json").read_text())["steps"]
    assert [s["name"] for s in steps] == STEPS
    assert {s["status"] for s in steps[2:]} == {"out_of_time"}
    assert "out_of_time" in (out / "summary.txt").read_text()


def test_gpu_path_summary_says_nccl_multirank_is_not_run_and_checks_gpu_numbers(tmp_path):
    """On a made-up work directory: a one-GPU machine's summary says NCCL
    refuses two ranks on one GPU; a rank whose gpu_index is not NVML's is flagged."""
    snap = {"nodes": {"n": {"snapshot": {"gpus": [{"index": 0, "uuid": "GPU-aa"}]}}}}
    run = tmp_path / "runs" / "validate"
    run.mkdir(parents=True)
    rank = {
        "device": "cuda",
        "gpu_index": 0,
        "gpu_uuid": "aa",
        "gpu_pci_bus_id": "00000000:18:00.0",
    }
    (run / "manifest.json").write_text(json.dumps({"topology": snap, "ranks": [rank]}))
    (tmp_path / "topo-out.json").write_text(json.dumps(snap))
    (run / "startup.csv").write_text(
        "world_size,group,ranks,backend,rendezvous_s,init_s,first_collective_s,setup_s,"
        "slowest_rank\n1,world,1,nccl,0.001,1.5,0.002,2.0,0\n"
    )
    figs = gpu_path.figures(tmp_path, "cuda")
    assert "NCCL refuses two ranks on one GPU" in figs["nccl_multirank"]
    assert figs["validate"]["gpu_numbers"][0]["agree"] is True
    text = "\n".join(gpu_path.render(figs))
    assert "init_process_group 1.5e+03" in text and "one number" in text
    rank["gpu_index"] = 1  # a CUDA ordinal that is not NVML's index
    (run / "manifest.json").write_text(json.dumps({"topology": snap, "ranks": [rank]}))
    assert gpu_path.figures(tmp_path, "cuda")["validate"]["gpu_numbers"][0]["agree"] is False
    assert gpu_path.nccl_multirank("cpu", 0).startswith("not run: cpu dry run")


@pytest.mark.slow
def test_check_sh_dry_run_on_cpu(tmp_path):
    """The whole kit as the device runs it, on CPU: every step passes, $OUT holds <= 8 files."""
    out = tmp_path / "out"
    p = check_sh(out=out)
    steps = (out / "summary.txt").read_text() if (out / "summary.txt").exists() else ""
    assert p.returncode == 0, steps[:2500] + p.stderr[-1500:]
    files = sorted(f.name for f in out.iterdir())
    assert len(files) <= 8 and all(f.is_file() for f in out.iterdir())
    assert files == ["check.log", "figures.json", "logs.tar.gz", "summary.txt", "topo.json"]

    result = json.loads((out / "figures.json").read_text())
    status = {s["name"]: s["status"] for s in result["steps"]}
    assert list(status) == STEPS
    assert status.pop("install") == "skipped"  # the venv already has ray and scaling
    assert set(status.values()) == {"ok"}, result["steps"]

    figs = result["figures"]
    assert figs["resnet50"]["status"] == "ok" and figs["resnet50"]["samples_per_s"] > 0
    assert figs["transformer"]["tokens_per_s"] > 0
    assert figs["all_reduce_largest"]["wrong"] == 0
    assert all(figs["fidelity"][w]["ratio"] > 0 for w in ("resnet50", "transformer"))
    assert figs["multirank"]["status"] == "ok" and figs["multirank"]["collective_wrong"] == 0
    assert {(r["workload"], r["world_size"]) for r in figs["multirank"]["training"]} == {
        ("resnet50", 1),
        ("resnet50", 2),
    }
    tests = figs["pytest_gpu"]
    assert tests["tests"] >= 1 and tests["failures"] == tests["errors"] == 0
    # validate ran; start-up per world size from the run and multirank steps.
    assert figs["validate"]["status"] in ("PASS", "WARN"), figs["validate"]  # exit 0: no FAIL
    assert figs["validate"]["gpu_numbers"] == []  # CPU ranks have no GPU to number
    started = {(r["run"], int(r["world_size"])) for r in figs["startup"]}
    assert started == {("suite", 1), ("multirank", 1), ("multirank", 2)}, figs["startup"]
    assert all(float(r["init_s"]) > 0 for r in figs["startup"])
    assert figs["nccl_multirank"].startswith("not run: cpu dry run")
    # On CPU every goal is n/a with its reason; measured figures are still shown.
    assert {g["verdict"] for g in result["goals"]} == {"n/a"} and all(
        g["why"] for g in result["goals"]
    )

    summary = (out / "summary.txt").read_text()
    for name in STEPS:
        assert f"\n  {name} " in summary
    assert "goals: measured here vs target" in summary and "2616 images/s" in summary
    assert f"validate --level quick: {figs['validate']['status']}" in summary
    assert "GPU numbers: n/a (no CUDA rank)" in summary and "multi-rank NCCL: not run" in summary
    assert json.loads((out / "topo.json").read_text())["schema"] == 1
    with tarfile.open(out / "logs.tar.gz") as tar:
        names = set(tar.getnames())
    for member in (
        "./runs/suite/manifest.json",
        "./runs/suite/samples.jsonl",
        "./runs/multirank/training.csv",
        "./runs/multirank/startup.csv",
        "./runs/validate/manifest.json",
        "./runs/validate/validate.json",
        "./logs/run.log",
        "./doctor.json",
        "./fidelity.json",
        "./pytest-gpu.xml",
        "./steps.tsv",
    ):
        assert member in names, member
