"""Which chunks have begun their work in this process, so that the fan-out starts the next chunk only then; and the
write slots that let a fan-out start its next chunk ahead while at most `parallel` chunks write.

A Prefect server on SQLite answers two runs created at the same instant with a 503 ("database is locked") to one of
them, and Prefect's client waits 2 s before it tries again: two chunk subflows started together cost one of them 2 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from om_runbook.migrations.errors import ChunkNotStarted

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


class WriteSlots:
    """At most `limit()` chunks of a fan-out write at a time. The fan-out starts one chunk more than that, so the
    next chunk's run is created and begun while the others write, and it takes the first slot given back.

    A chunk holds its slot from its first write until it returns; a chunk that raised keeps it (its task may retry
    and take it again) until the fan-out has its outcome and gives it back, having closed the slots when the
    outcome is a failure: a chunk still waiting then raises instead of writing."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._holders: set[int] = set()
        self._closed_because: str | None = None
        self._changed = threading.Condition()

    def take(self, index: int) -> None:
        with self._changed:
            while index not in self._holders:
                if self._closed_because is not None:
                    raise ChunkNotStarted(
                        f"chunk {index:04d} wrote nothing: {self._closed_because}; re-run to resume or roll back"
                    )
                if len(self._holders) < max(1, self._limit()):
                    self._holders.add(index)
                    return
                self._changed.wait(0.5)  # `om-runbook tune --parallel` may raise the limit meanwhile

    def give_back(self, index: int) -> None:
        with self._changed:
            self._holders.discard(index)
            self._changed.notify_all()

    def close(self, reason: str) -> None:
        with self._changed:
            self._closed_because = reason
            self._changed.notify_all()


_slots: dict[tuple[str, str], WriteSlots] = {}


@contextmanager
def write_slots(backup_dir: Path, direction: str | None, limit: Callable[[], int]) -> Iterator[WriteSlots]:
    """A fan-out's slots, found by its chunks through `take_write_slot` when they run in this process (`direction`
    given); chunks elsewhere (on a work pool) cannot see them."""
    slots, key = WriteSlots(limit), (str(backup_dir), direction or "")
    if direction is None:
        yield slots
        return
    with _lock:
        _slots[key] = slots
    try:
        yield slots
    finally:
        with _lock:
            _slots.pop(key, None)
        slots.close("the fan-out ended")


def _registered(backup_dir: Path, direction: str) -> WriteSlots | None:
    with _lock:
        return _slots.get((str(backup_dir), direction))


def take_write_slot(backup_dir: Path, direction: str, index: int) -> None:
    """Before a chunk's first write: wait for a free slot of the fan-out running it here; nothing when none does (a
    chunk on a worker, a stand-alone call)."""
    slots = _registered(backup_dir, direction)
    if slots is not None:
        slots.take(index)


def give_back_write_slot(backup_dir: Path, direction: str, index: int) -> None:
    """After a chunk's last write, before its run ends: the next chunk writes while this one's run is closed."""
    slots = _registered(backup_dir, direction)
    if slots is not None:
        slots.give_back(index)
