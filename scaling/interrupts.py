"""SIGTERM and SIGHUP end a run the way Ctrl-C does: recorded as interrupted, never as ok.

SLURM's scancel, Kubernetes and `timeout` send SIGTERM; a closed terminal sends SIGHUP.
Python's default for both is to die on the spot, and Ray's driver handler exits from
wherever the signal lands: either way the manifest would keep saying "running", or a
half-finished run could be summarised as if it were whole. So while a run measures, both
raise `Terminated`, a KeyboardInterrupt, and every path that handles Ctrl-C handles them:
the manifest says interrupted and why, what was measured is kept, a partial report is
written, and the exit code is 128 + the signal (143 for SIGTERM, 129 for SIGHUP; 130 for
Ctrl-C), as shells report a process killed by that signal.
"""

from __future__ import annotations

import signal

SIGNALS = (signal.SIGTERM, signal.SIGHUP)
# The signal behind the current interrupt. Ray turns any KeyboardInterrupt raised while it
# waits (ray.get, ray.wait) into a plain KeyboardInterrupt, so the exception alone may not
# say that it was a SIGTERM.
_received: int | None = None


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


class SignalsInterrupt:
    """While entered, SIGTERM/SIGHUP raise Terminated in the main thread. Later ones are
    ignored while the run cleans up (the manifest, the ranks and Ray must still be put away).

    `ray.init` installs its own SIGTERM handler (it exits at once): call `reinstall()` after it.
    """

    def __init__(self):
        self.fired = False
        self._previous: dict = {}

    def _handler(self, signum, frame):
        global _received
        if self.fired:
            return
        self.fired = True
        _received = signum
        raise Terminated(signum)

    def reinstall(self) -> None:
        for s in SIGNALS:
            signal.signal(s, self._handler)

    def __enter__(self) -> SignalsInterrupt:
        global _received
        _received = None
        self._previous = {s: signal.signal(s, self._handler) for s in SIGNALS}
        return self

    def __exit__(self, *exc) -> bool:
        for s, h in self._previous.items():
            signal.signal(s, h)
        return False
