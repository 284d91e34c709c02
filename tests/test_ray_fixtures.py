"""The Ray fixtures cannot leak: conftest's check fails a test that leaves Ray initialised,
starts Ray outside the slow mark, or leaves a Ray process behind, and kills what it left.

The planted leaks run in an inner pytest (pytester) with this very conftest, so the real
check judges real Ray processes; the outer test asserts what the inner one reported.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.ray_procs import ray_processes
from tests.test_ray_start import free_port

pytestmark = pytest.mark.slow

LEAKS = """
import os, subprocess, sys
from pathlib import Path

import pytest
import ray


def test_fast_test_that_leaves_ray_initialised():
    ray.init(address="local", num_cpus=0, include_dashboard=False, log_to_driver=False)


@pytest.mark.slow
def test_ray_start_left_running():
    ray_bin = str(Path(sys.executable).with_name("ray"))
    subprocess.run(
        [ray_bin, "start", "--head", "--port", "PORT", "--num-cpus", "0",
         "--include-dashboard", "false"],
        check=True, capture_output=True, timeout=180, env=os.environ | {"HOME": os.getcwd()},
    )
"""


def test_planted_leaks_fail_their_tests_and_are_cleaned_up(pytester, monkeypatch):
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(ray_procs=(Path(__file__).parent / "ray_procs.py").read_text())
    pytester.makepyfile(test_leaks=LEAKS.replace("PORT", str(free_port())))
    pytester.makeini("[pytest]\nmarkers =\n    slow: starts Ray\n")
    monkeypatch.setenv("SCALING_TEST_STRAY_GRACE_S", "3")  # the strays are planted
    monkeypatch.setenv("PLANTED_LEAKS", "1")  # marks every process the inner run starts
    r = pytester.run(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", timeout=400)
    text = r.stdout.str()
    r.assert_outcomes(passed=2, errors=2)
    assert "left Ray initialised" in text and "is not marked slow" in text, text
    assert "left Ray process" in text and "raylet" in text, text
    assert ray_processes(b"PLANTED_LEAKS=1") == {}  # the check killed what it found
