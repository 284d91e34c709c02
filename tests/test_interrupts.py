"""The one-interrupt rule on real signals sent to this process (no Ray: the phases that start
Ray are tests/test_signals.py)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from scaling import interrupts


def _kill_self(sig: int) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(0.05)  # the handler runs at the next bytecode boundary of the main thread


def test_a_held_signal_lets_the_body_finish_then_raises_it():
    finished = []
    signals = interrupts.SignalsInterrupt()
    with signals, pytest.raises(interrupts.Terminated) as e, interrupts.held():
        _kill_self(signal.SIGTERM)
        finished.append(True)  # not cut short: ray.init would be here
    assert finished == [True]
    assert interrupts.exit_code(e.value) == 143 and interrupts.reason(e.value).endswith("SIGTERM")


def test_later_signals_hurry_and_never_raise(capfd):
    with interrupts.SignalsInterrupt() as signals:
        with pytest.raises(KeyboardInterrupt) as e:
            _kill_self(signal.SIGINT)
        assert interrupts.exit_code(e.value) == 130 and signals.fired
        assert not interrupts.hurried()
        _kill_self(signal.SIGINT)  # the clean-up goes on
        _kill_self(signal.SIGTERM)
        assert interrupts.hurried()
    err = capfd.readouterr().err
    assert err.count("hurrying the clean-up") == 1


def test_handlers_before_it_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    with interrupts.SignalsInterrupt():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
