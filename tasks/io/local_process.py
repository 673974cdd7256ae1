"""Whether a process on this machine still runs (for a lease's dead holder and a crashed run's status)."""

from __future__ import annotations

import ctypes
import os
import signal


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


_PR_SET_PDEATHSIG = 1


try:  # loaded here, in the parent: a forked child of a threaded process must not run the dynamic loader
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: children are stopped only by their normal end
    _PRCTL = None


def end_with_parent() -> None:
    """For `Popen(preexec_fn=...)`: the child gets SIGTERM when the thread that started it ends (Linux
    PR_SET_PDEATHSIG), so a `kill -9` of om-runbook leaves no embedded Prefect server or throwaway redis-server
    behind. Start such a child from a thread that outlives it (the main thread, or the call that stops it)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)
