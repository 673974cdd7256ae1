"""Progress while chunks run, read from their durable checkpoints: a Prefect progress artifact (rate-limited)
and, in the terminal, a rich progress bar per chunk."""

from __future__ import annotations

import threading
from pathlib import Path

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from migrations.backup_format import ChunkBackup
from tasks.backup_files import load_checkpoint

PROGRESS_ARTIFACT_KEY = "migration-progress"


class ChunkProgress:
    """`with ChunkProgress(...):` around the chunk subflows; at most one artifact update per `interval`."""

    def __init__(
        self,
        backup_dir: Path,
        chunks: list[ChunkBackup],
        direction: str,
        console: Console | None,
        interval: float = 2.0,
    ) -> None:
        self.backup_dir, self.direction, self.interval = backup_dir, direction, interval
        self.chunks = [chunk for chunk in chunks if chunk.key_count]
        self.total = sum(chunk.key_count for chunk in self.chunks) or 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="om-runbook-progress", daemon=True)
        self._bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=console is None,
        )
        self._bar_ids = {
            c.index: self._bars.add_task(f"{direction} chunk {c.index:04d}", total=c.key_count) for c in self.chunks
        }
        self._artifact_id = create_progress_artifact(
            0.0, key=PROGRESS_ARTIFACT_KEY, description=f"{direction}: share of planned keys done (from checkpoints)"
        )

    def __enter__(self) -> ChunkProgress:
        self._bars.start()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._update()
        self._bars.stop()

    def _update(self) -> None:
        done = 0
        for chunk in self.chunks:
            lines = load_checkpoint(self.backup_dir, self.direction, chunk).lines_done
            self._bars.update(self._bar_ids[chunk.index], completed=lines)
            done += lines
        update_progress_artifact(self._artifact_id, round(100.0 * done / self.total, 1))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._update()
            except (OSError, ValueError, RuntimeError):  # a checkpoint being replaced, an API hiccup: next tick
                continue
