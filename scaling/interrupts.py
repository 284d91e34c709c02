"""Ctrl-C, SIGTERM and SIGHUP end a run the same way, in every phase: recorded, never a crash.

SLURM's scancel, Kubernetes and `timeout` send SIGTERM; a closed terminal sends SIGHUP.
Python's default for both is to die on the spot, and Ray's driver handler exits from
wherever the signal lands: either way the manifest would keep saying "running", or a
half-finished run could be summarised as if it were whole. So while a command runs, the
first of them raises a KeyboardInterrupt (`Terminated` for SIGTERM/SIGHUP), and every path
that handles Ctrl-C handles them: the manifest says interrupted and why, what was measured is
kept, a partial report is written, and the exit code is 128 + the signal (143 for SIGTERM,
129 for SIGHUP; 130 for Ctrl-C), as shells report a process killed by that signal.

Three rules make that hold at the edges (docs/interrupts.md):

- one interrupt: a later signal never raises, so it cannot cut the clean-up short (the
  manifest, the ranks and Ray must still be put away); it only hurries it (`hurried()`:
  the ranks are killed without their grace time);
- `held()`: while Ray starts its daemons (`ray.init`), a signal is held and raised when
  `ray.init` returns, where Ray can be shut down whole; raised inside it, it left Ray's C++
  core half-built (segfaults, C++ dumps) and Ray's agents running for a minute;
- `finished()`: once the command has its exit code, signals are ignored at interpreter exit,
  so Ray's own exit handler cannot print a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import time

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STALL_ENV = "SCALING_TEST_STALL"
"""Test hook: the driver waits (up to 60 s) when it reaches this stage, so a test's signal
lands in it (stages: ray, before Ray starts; shutdown, as the ranks are stopped; report, once
measuring ended); it says so on stderr when it stalls. Unset, nothing changes."""

# The signal behind the current interrupt. Ray turns any KeyboardInterrupt raised while it
# waits (ray.get, ray.wait) into a plain KeyboardInterrupt, so the exception alone may not
# say that it was a SIGTERM.
_received: int | None = None
_hurried = False
_holding: list[int] | None = None  # inside held(): the signals that arrived
_holding_note = ""


class Terminated(KeyboardInterrupt):
    """The run received SIGTERM or SIGHUP."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _signum(e: BaseException) -> int:
    if isinstance(e, Terminated):
        return e.signum
    return _received or signal.SIGINT


def reason(e: BaseException) -> str:
    signum = _signum(e)
    if signum == signal.SIGINT:
        return "interrupted by the user (Ctrl-C)"
    return f"terminated by {signal.Signals(signum).name}"


def exit_code(e: BaseException) -> int:
    return 128 + _signum(e)


def hurried() -> bool:
    """A second signal came while the command cleaned up: skip what only waits."""
    return _hurried


def _interrupt(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _say(text: str) -> None:
    # From a signal handler: one write on fd 2, no buffered stream that may be mid-write.
    with contextlib.suppress(OSError):
        os.write(2, f"{text}\n".encode())


def _handler(signum, frame):
    global _received, _hurried
    if _received is not None:
        if not _hurried:
            _hurried = True
            _say(f"{signal.Signals(signum).name} again: hurrying the clean-up (ranks are killed "
                 "now); the record is still written")  # fmt: skip
        return
    _received = signum
    if _holding is not None:
        _holding.append(signum)
        _say(f"{signal.Signals(signum).name}: {_holding_note}")
        return
    raise _interrupt(signum)


def install() -> dict:
    """Route SIGINT, SIGTERM and SIGHUP through the one-interrupt handler (main thread only),
    with no interrupt seen yet. Returns the handlers it replaced (for `finished`)."""
    global _received, _hurried
    if threading.current_thread() is not threading.main_thread():
        return {}
    _received, _hurried = None, False
    return {s: signal.signal(s, _handler) for s in SIGNALS}


def finished(previous: dict) -> None:
    """The command has its exit code: restore `previous`, and at interpreter exit ignore
    signals, so Ray's own exit handler cannot print a KeyboardInterrupt traceback."""
    global _exit_hook
    for s, h in previous.items():
        signal.signal(s, h)
    if not _exit_hook:
        _exit_hook = True
        # Registered after Ray's exit handler, so it runs before it (atexit is last-in first-out).
        atexit.register(_ignore_signals)


_exit_hook = False


def _ignore_signals() -> None:
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            signal.signal(s, signal.SIG_IGN)


class SignalsInterrupt:
    """While entered, the first SIGINT/SIGTERM/SIGHUP raises in the main thread; later ones
    hurry the clean-up and never raise. The handlers before it are restored on exit.

    `ray.init` installs its own SIGTERM handler (it exits at once): call `reinstall()` after it.
    """

    def __init__(self):
        self._previous: dict = {}

    @property
    def fired(self) -> bool:
        return _received is not None

    def reinstall(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                signal.signal(s, _handler)

    def __enter__(self) -> SignalsInterrupt:
        self._previous = install()
        return self

    def __exit__(self, *exc) -> bool:
        for s, h in self._previous.items():
            signal.signal(s, h)
        return False


@contextlib.contextmanager
def held(note: str = "stopping once the clean-up is done"):
    """Hold SIGINT/SIGTERM/SIGHUP while the body runs; raise the first when it ends. A held
    signal is acknowledged at once on stderr with `note` (what happens next).

    For `ray.init`: it starts Ray's daemons and builds its C++ core worker, and an exception
    raised in the middle of that is what crashed the driver. Outside the main thread (where
    Python runs no signal handler) it only runs the body.
    """
    global _holding, _holding_note, _received, _hurried
    if threading.current_thread() is not threading.main_thread() or _holding is not None:
        yield
        return
    if signal.getsignal(signal.SIGINT) is not _handler:  # a library call, outside a command
        _received, _hurried = None, False
    _holding, _holding_note = [], note
    previous = {s: signal.signal(s, _handler) for s in SIGNALS}
    try:
        yield
    except BaseException:
        got = _holding
        _restore(previous)
        if got:
            raise _interrupt(got[0]) from None
        raise
    got = _restore(previous)
    if got:
        raise _interrupt(got[0])


def _restore(previous: dict) -> list[int]:
    global _holding
    got, _holding = _holding or [], None
    for s, h in previous.items():
        signal.signal(s, h)
    return got


def stage(name: str) -> None:
    """The driver reached `name`; under the test hook STALL_ENV it waits there."""
    if os.environ.get(STALL_ENV) == name:
        print(f"{STALL_ENV}: stalled at {name}", file=sys.stderr, flush=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.05)
