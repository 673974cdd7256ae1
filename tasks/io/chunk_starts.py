"""Which chunks have begun their work in this process, so that the fan-out starts the next chunk only then.

A Prefect server on SQLite answers two runs created at the same instant with a 503 ("database is locked") to one of
them, and Prefect's client waits 2 s before it tries again: two chunk subflows started together cost one of them 2 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

_lock = threading.Lock()
_started: dict[tuple[str, str, int], threading.Event] = {}


def _key(backup_dir: Path, direction: str, index: int) -> tuple[str, str, int]:
    return str(backup_dir), direction, index


def _event(backup_dir: Path, direction: str, index: int) -> threading.Event:
    with _lock:
        return _started.setdefault(_key(backup_dir, direction, index), threading.Event())


def expect_start(backup_dir: Path, direction: str, index: int) -> None:
    """Before the chunk is submitted: an earlier run's announcement in this process no longer counts."""
    _event(backup_dir, direction, index).clear()


def announce_start(backup_dir: Path, direction: str, index: int) -> None:
    """Called by a chunk once its run exists and its own work begins; nothing when no fan-out here waits for it (a
    rollback's chunk, a chunk run on a worker), so that nothing is kept."""
    with _lock:
        event = _started.get(_key(backup_dir, direction, index))
    if event is not None:
        event.set()


def wait_for_start(
    backup_dir: Path, direction: str, index: int, ended: Callable[[], bool], timeout_seconds: float
) -> bool:
    """Until the chunk announced its start, `ended()` says it ended without (a failure before its work), or
    `timeout_seconds` passed; True when it started. The entry is forgotten either way."""
    event, deadline = _event(backup_dir, direction, index), time.monotonic() + timeout_seconds
    try:
        while not event.wait(0.02):
            if ended() or time.monotonic() >= deadline:
                return False
        return True
    finally:
        with _lock:
            _started.pop(_key(backup_dir, direction, index), None)
