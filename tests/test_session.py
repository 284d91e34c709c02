"""run, validate and tune share one measuring session (scaling/session.py) and one outcome type
(scaling/outcome.py): each enters the session, writes its start manifest through it, and a
SIGTERM while it measures ends each the same way: an Outcome, status interrupted, exit 143,
the manifest ended and saying why."""

from __future__ import annotations

import json
import os
import signal

import pytest

from scaling import api
from scaling.config import load_config
from scaling.outcome import Outcome
from scaling.run_outcome import RunHooks, RunResult
from scaling.session import MeasuringSession
from scaling.tune import TuneHooks, Tuning
from scaling.validate import ValidateHooks, Validation

COMMON = {"tool", "status", "started", "ended", "error", "config", "device", "backend", "host",
          "ray", "ranks", "notices"}  # fmt: skip
"""What the session's start manifest writes for every command."""


def _sigterm(*_):
    os.kill(os.getpid(), signal.SIGTERM)  # the real handler turns it into an interrupt here


class RunTerm(RunHooks):
    point = _sigterm  # after the first point is on disk


class ValidateTerm(ValidateHooks):
    stage = _sigterm  # as the first stage starts


class TuneTerm(TuneHooks):
    def notice(self, text: str) -> None:
        if text.startswith("memory:"):  # the first memory probe is next
            _sigterm()


def _cfg(tmp_path, name, **overrides):
    base = {"gpus": "1", "repeats": "1", "out": str(tmp_path / name)}
    return load_config(overrides=base | overrides)


COMMANDS = {
    "run": (lambda c: api.run(c, RunTerm(), report=False), RunResult, None,
            {"workloads": "collectives", "collectives.ops": "all_reduce",
             "collectives.max_bytes": "4K", "collectives.iters": "2"}),
    "validate": (lambda c: api.validate(c, ValidateTerm()), Validation, "validate",
                 {"validate.level": "quick", "validate.gpus": "1"}),
    "tune": (lambda c: api.tune(c, TuneTerm()), Tuning, "tune",
             {"tune.workload": "resnet50", "tune.budget": "1m"}),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_sigterm_while_measuring_ends_each_command_alike(command, ray_local, tmp_path,
                                                           monkeypatch):  # fmt: skip
    call, kind_cls, kind, overrides = COMMANDS[command]
    entered = []
    real_enter = MeasuringSession.__enter__

    def enter(self):  # the real session, counted
        entered.append(self)
        return real_enter(self)

    monkeypatch.setattr(MeasuringSession, "__enter__", enter)
    outcome = call(_cfg(tmp_path, command, **overrides))
    assert len(entered) == 1 and entered[0].rundir.path == outcome.path
    assert isinstance(outcome, kind_cls) and isinstance(outcome, Outcome)
    assert (outcome.status, outcome.exit_code, outcome.interrupt_code) == ("interrupted", 143, 143)
    m = json.loads((outcome.path / "manifest.json").read_text())
    assert set(m) >= COMMON and m.get("kind") == kind
    assert m["status"] == "interrupted" and m["error"] == "terminated by SIGTERM" and m["ended"]
    assert m["config"]["out"] == str(tmp_path / command) and len(m["ranks"]) == 1


def test_one_exit_code_rule_for_the_three_outcomes(tmp_path):
    """Interrupted is 128 + the signal whatever the command judged; otherwise each judges."""
    outcomes = [RunResult(tmp_path, "ok"), Validation(tmp_path, "ok"), Tuning(tmp_path, "ok")]
    assert [o.exit_code for o in outcomes] == [1, 1, 1]  # no summary, no verdicts, no winner
    for o in outcomes:
        o.interrupt_code = 129  # a SIGHUP while the ranks were put away: the record is whole
        assert o.exit_code == 129
    stopped = [cls(tmp_path, "interrupted") for cls in (RunResult, Validation, Tuning)]
    assert [o.exit_code for o in stopped] == [130, 130, 130]
    won = Tuning(tmp_path, "ok", document={"winner": {"id": "b8"}})
    assert won.exit_code == 0 and won.document["winner"]["id"] == "b8"
    assert Validation(tmp_path, "failed", error="a stage raised").document == {
        "status": "failed",
        "exit_code": 1,
        "run_dir": str(tmp_path),
        "error": "a stage raised",
    }
