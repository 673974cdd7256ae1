"""Progress while chunks run, read from their durable checkpoints (so chunks on other workers count too): the live
counters of this process and a Prefect progress artifact (at most one update per `interval`)."""

from __future__ import annotations

import contextvars
import threading
from pathlib import Path

from prefect.artifacts import create_progress_artifact, update_progress_artifact

from om_runbook.migrations.backup_format import ChunkBackup
from om_runbook.migrations.run_status import ChunkProgressState
from om_runbook.tasks.backup_store.backup_format import load_checkpoint
from om_runbook.tasks.io.progress_meter import METER

PROGRESS_ARTIFACT_KEY = "migration-progress"


class ChunkProgress:
    """`with ChunkProgress(...):` around the chunk subflows."""

    def __init__(self, backup_dir: Path, chunks: list[ChunkBackup], direction: str, interval: float = 2.0) -> None:
        self.backup_dir, self.direction, self.interval = backup_dir, direction, interval
        self.chunks = [chunk for chunk in chunks if chunk.key_count]
        self.planned = sum(chunk.key_count for chunk in self.chunks)
        self._stop = threading.Event()
        # the flow's context goes along: artifact updates reach this run's API, not a server of their own
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._run,), name="om-runbook-progress", daemon=True)
        self._artifact_id = create_progress_artifact(
            0.0, key=PROGRESS_ARTIFACT_KEY, description=f"{direction}: share of planned keys done (from checkpoints)"
        )

    def __enter__(self) -> ChunkProgress:
        states = self._checkpoint_states()
        METER.begin(f"{self.direction}: chunks", self.planned, start=sum(state.done for state in states))
        METER.set_chunks(states)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._update_artifact(self._read_checkpoints())

    def _checkpoint_states(self) -> list[ChunkProgressState]:
        states = []
        for chunk in self.chunks:
            checkpoint = load_checkpoint(self.backup_dir, self.direction, chunk)
            states.append(
                ChunkProgressState(
                    index=chunk.index, done=checkpoint.lines_done, total=chunk.key_count, finished=checkpoint.finished
                )
            )
        return states

    def _read_checkpoints(self) -> int:
        states = self._checkpoint_states()
        METER.set_chunks(states)
        return sum(state.done for state in states)

    def _update_artifact(self, done: int) -> None:
        update_progress_artifact(self._artifact_id, round(100.0 * done / (self.planned or 1), 1))

    def _run(self) -> None:
        ticks_per_artifact = max(1, round(self.interval / 0.5))
        tick = 0
        while not self._stop.wait(0.5):
            tick += 1
            try:
                done = self._read_checkpoints()
                if tick % ticks_per_artifact == 0:
                    self._update_artifact(done)
            except (OSError, ValueError, RuntimeError):  # a checkpoint being replaced, an API hiccup: next tick
                continue
