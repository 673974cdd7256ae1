"""The running process's live counters: the long loops count what they did here, the display and the
status file read them. Thread-safe; one per process (chunk subflows run in threads of the flow's process)."""

from __future__ import annotations

import threading
import time

from om_runbook.migrations.run_status import ChunkProgressState, GateWait, PhaseProgress, ThrottleState


class ProgressMeter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """A new run starts from nothing (one process may run several: the rehearsal, tests)."""
        self._phase: str = "starting"
        self._unit = "keys"
        self._done = 0
        self._start = 0
        self._total = 0
        self._started = time.monotonic()
        self._counting = False
        self._chunks: dict[int, ChunkProgressState] = {}
        self.gate: GateWait | None = None
        self.throttle: ThrottleState | None = None
        self.last_error: str | None = None
        self.lease: tuple[str, float] | None = None  # holder, since (epoch seconds)
        self.finished: list[PhaseProgress] = []  # counted phases that ended, with their last figures

    def begin(self, phase: str, total: int, unit: str = "keys", start: int = 0) -> None:
        """A new phase with a counter: `advance` from here on; chunk bars of an earlier phase are dropped. `start`
        units were done by a process before this one (a resumed run): rates count only what is done from here."""
        with self._lock:
            self._close_phase()
            self._phase, self._unit, self._total = phase, unit, max(0, total, start)
            self._done = self._start = max(0, start)
            self._started, self._counting = time.monotonic(), True
            self._chunks = {}

    def enter(self, phase: str) -> None:
        """A phase with nothing to count (a gate, the schema step)."""
        with self._lock:
            self._close_phase()
            self._phase, self._counting, self._chunks = phase, False, {}

    def _close_phase(self) -> None:
        if self._counting:
            self.finished.append(self._progress().model_copy(update={"ended_at": time.time()}))

    def advance(self, count: int) -> None:
        with self._lock:
            self._done += count
            self._total = max(self._total, self._done)

    def set_done(self, done: int) -> None:
        with self._lock:
            self._done = done
            self._total = max(self._total, self._done)

    def finish_at(self, done: int) -> None:
        """The phase turned out to be `done` units in all (an estimated total replaced by the real one)."""
        with self._lock:
            self._done = self._total = done

    def set_chunks(self, chunks: list[ChunkProgressState]) -> None:
        """Per-chunk figures (from the checkpoints); the phase's done is their sum."""
        with self._lock:
            self._chunks = {chunk.index: chunk for chunk in chunks}
            self._done = sum(chunk.done for chunk in chunks)

    @property
    def phase(self) -> str:
        return self._phase

    def progress(self) -> PhaseProgress | None:
        with self._lock:
            return self._progress() if self._counting else None

    def _progress(self) -> PhaseProgress:
        seconds = time.monotonic() - self._started
        return PhaseProgress(
            name=self._phase, done=self._done, total=self._total, unit=self._unit, seconds=seconds, start=self._start
        )

    def chunks(self) -> list[ChunkProgressState]:
        with self._lock:
            return sorted(self._chunks.values(), key=lambda chunk: chunk.index)


METER = ProgressMeter()
