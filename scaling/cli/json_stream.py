"""`--json`: stdout holds exactly one JSON document, whatever the outcome.

Ray prints its own lines ("(raylet) A worker died ...") and the ranks' output to the driver's
stdout, from threads and from C++, at any time. So while a `--json` command runs, file
descriptor 1 points at stderr: every other line lands there, and the one document is written
to the real stdout at the end (ok, failed, interrupted or refused alike).

    with JsonStdout(enabled=as_json) as stream:
        ...
        stream.emit({"status": "ok", ...})
"""

from __future__ import annotations

import contextlib
import json
import os
import sys


class JsonStdout:
    """While entered (and enabled), stdout is stderr; `emit` writes the one document to the
    real stdout. Exiting without an `emit` writes `fallback` (status "failed" and the error)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.emitted = False
        self._fd: int | None = None
        self._stdout = None

    def __enter__(self) -> JsonStdout:
        if not self.enabled:
            return self
        sys.stdout.flush()
        self._stdout = sys.stdout
        try:
            is_fd1 = sys.stdout.fileno() == 1
        except (AttributeError, OSError, ValueError):  # an in-process runner's buffer
            is_fd1 = False
        if is_fd1:
            self._fd = os.dup(1)
            os.dup2(2, 1)
        else:
            sys.stdout = sys.stderr
        return self

    def emit(self, doc: dict) -> None:
        """The one document (NaN as null); later calls are ignored."""
        from scaling.format import json_safe

        if not self.enabled or self.emitted:
            return
        self.emitted = True
        text = json.dumps(json_safe(doc), default=str, allow_nan=False) + "\n"
        sys.stdout.flush()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.write(self._fd, text.encode())
        else:
            self._stdout.write(text)
            self._stdout.flush()

    def __exit__(self, exc_type, exc, tb) -> bool:
        if not self.enabled:
            return False
        if not self.emitted:
            code = getattr(exc, "exit_code", None)
            status = "refused" if code == 2 else "failed"
            if isinstance(exc, KeyboardInterrupt):
                status = "interrupted"
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc or "")
            self.emit({"status": status, "error": message or type(exc).__name__})
        sys.stdout.flush()
        if self._fd is not None:  # Ray is shut down by now: nothing of its prints after this
            os.dup2(self._fd, 1)
            os.close(self._fd)
            self._fd = None
        else:
            sys.stdout = self._stdout
        return False
