"""What a run shows while it runs: one live area in a terminal (Prefect's log lines print above it), progress log
lines every few seconds without a terminal, and `status.json` in the backup directory for `om-runbook status`."""

from __future__ import annotations

import contextvars
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from prefect.logging.handlers import PrefectConsoleHandler
from rich.console import Console
from rich.default_styles import DEFAULT_STYLES
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.theme import Theme

from om_runbook.migrations.run_status import LeaseState, RunKind, RunStatus
from om_runbook.migrations.timeline import Timeline, TimelinePoint, next_point, phase_end_point
from om_runbook.tasks.backup_store.run_status import read_timeline, write_status, write_timeline
from om_runbook.tasks.guards.throttle import read_probe_reading
from om_runbook.tasks.io.progress_meter import METER

TICK_SECONDS = 0.5
STATUS_EVERY_TICKS = 2  # status.json once a second
LOG_EVERY_SECONDS = 5.0  # without a terminal
TIMELINE_EVERY_SECONDS = 1.0  # a point of the run's timeline (timeline.json, rewritten with each: a kill loses one)
# One display per run: a subflow (the rehearsal's migration, an automatic rollback) runs in its parent's context
# and shows in its parent's display
_ACTIVE: contextvars.ContextVar[bool] = contextvars.ContextVar("om_runbook_display_active", default=False)
# Prefect's console theme does not inherit rich's defaults; the bars need these
_BAR_THEME = Theme({name: style for name, style in DEFAULT_STYLES.items() if name.startswith(("bar.", "progress."))})


def prefect_console_handlers() -> list[PrefectConsoleHandler]:
    seen: list[PrefectConsoleHandler] = []
    for logger in [logging.getLogger(), *(logging.getLogger(name) for name in logging.root.manager.loggerDict)]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler) and handler not in seen:
                seen.append(handler)
    return seen


class RunDisplay:
    """`with RunDisplay(...) as display:` around a flow body; `display.finish(outcome)` before it ends."""

    def __init__(
        self,
        kind: RunKind,
        backup_dir: Path,
        safe_url: str,
        resume_command: str,
        flow_run_id: str | None,
        ui_url: str | None,
        logger: logging.Logger | logging.LoggerAdapter,
    ) -> None:
        now = time.time()
        self.status = RunStatus(
            kind=kind,
            redis=safe_url,
            backup_dir=str(backup_dir),
            flow_run_id=flow_run_id,
            ui_url=ui_url,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=now,
            updated_at=now,
            resume_command=resume_command,
        )
        self.backup_dir, self.logger = backup_dir, logger
        self._owner = False
        self._token: contextvars.Token[bool] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handlers: list[tuple[PrefectConsoleHandler, Console]] = []
        self._progress: Progress | None = None
        self._bars: dict[str, TaskID] = {}
        self._last_log = 0.0
        self._phases_reported = 0
        self._console: Console | None = None
        self._timeline = Timeline()
        self._timeline_lock = threading.RLock()  # the display thread and finish() both add points
        self.on_progress: Callable[[str, str], None] | None = None  # (phase, figures) each tick while keys move

    def __enter__(self) -> RunDisplay:
        self._owner = not _ACTIVE.get()
        if not self._owner:
            return self
        self._token = _ACTIVE.set(True)
        METER.reset()
        self._timeline = read_timeline(self.backup_dir)  # a resumed run goes on with the points of the one before
        console = self._console = self._shared_console()
        if console.is_terminal:
            console.push_theme(_BAR_THEME)
            self._progress = Progress(
                TextColumn("{task.description}", style="bold"),
                BarColumn(bar_width=30),
                TextColumn("{task.fields[figures]}"),
                console=console,
                transient=True,
            )
            self._progress.start()
        # the flow's context goes along: its log lines reach this run's Prefect API (a thread started without it
        # made Prefect start a temporary server of its own, and the process waited at exit to send it events)
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._run,), name="om-runbook-display", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if not self._owner:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        METER.enter(self.status.outcome or "ended")
        self._tick(write=True, final=True)
        if self._progress is not None:
            self._progress.stop()
            self._progress.console.pop_theme()
        for handler, original in self._handlers:
            handler.console = original
        if self._token is not None:
            _ACTIVE.reset(self._token)

    def finish(self, outcome: str) -> None:
        """The run's end, for `status`: written at once."""
        if self._owner:
            self.status.outcome = outcome
            self._tick(write=True)

    def _shared_console(self) -> Console:
        """Prefect's console handlers print through the live area's console, so log lines go above the bars."""
        handlers = prefect_console_handlers()
        if not handlers:
            return Console(stderr=True)
        shared = handlers[0].console
        for handler in handlers:
            self._handlers.append((handler, handler.console))
            handler.console = shared
        return shared

    def _snapshot(self) -> RunStatus:
        status = self.status
        status.updated_at = time.time()
        status.phase = METER.phase
        status.progress = METER.progress()
        status.chunks = METER.chunks()
        status.gate, status.throttle, status.last_error = METER.gate, METER.throttle, METER.last_error
        lease = METER.lease
        status.lease = LeaseState(holder=lease[0], since=lease[1]) if lease else None
        return status

    def _report_finished_phases(self) -> None:
        """One line per counted phase that ended: above the bars in a terminal, a log line otherwise."""
        finished = METER.finished[self._phases_reported :]
        if not finished:
            return
        self._phases_reported += len(finished)
        p99 = METER.throttle.p99_ms if METER.throttle is not None else None
        probe = read_probe_reading(self.backup_dir, max_age_seconds=1.0)  # the probe runs with the chunks only
        for phase in finished:
            ended_at = phase.ended_at if phase.ended_at is not None else time.time()
            self._add_point(phase_end_point(ended_at, phase.name, phase.figures(), p99, probe))
            line = f"{phase.name} done: {phase.figures().done_text()}"
            if self._progress is not None and self._console is not None:
                self._console.print(line, markup=False, highlight=False)
            else:
                self.logger.info(line)

    def _add_sample(self, status: RunStatus, final: bool) -> None:
        """A timeline point every TIMELINE_EVERY_SECONDS and at the end."""
        with self._timeline_lock:
            points = self._timeline.points
            now = status.updated_at
            if points and now - points[-1].at < TIMELINE_EVERY_SECONDS and not final:
                return
            progress = status.progress
            phase, done = (progress.name, progress.done) if progress is not None else (status.phase, 0)
            throttle = status.throttle
            p99, limit = (throttle.p99_ms, throttle.limit_ms) if throttle is not None else (None, None)
            probe = read_probe_reading(self.backup_dir, max_age_seconds=1.0)  # the probe stops with the chunks
            if p99 is None and probe is not None:
                p99 = probe.p99_ms
            self._add_point(next_point(points[-1] if points else None, now, phase, done, p99, probe, limit))

    def _add_point(self, point: TimelinePoint) -> None:
        """Added in time order and written at once (the display thread and the run's end both add points)."""
        with self._timeline_lock:
            points = self._timeline.points
            if points and point.at < points[-1].at:
                point = point.model_copy(update={"at": points[-1].at})
            self._timeline.add(point)
            self._write_timeline()

    def _write_timeline(self) -> None:
        if self.backup_dir.is_dir():
            try:
                write_timeline(self.backup_dir, self._timeline)
            except OSError:
                pass  # a full disk is the backup's and the report's to say; the timeline only loses points

    def _tick(self, write: bool, final: bool = False) -> None:
        self._report_finished_phases()
        status = self._snapshot()
        self._add_sample(status, final)
        if self._progress is not None:
            self._draw(status)
        elif status.progress is not None and time.monotonic() - self._last_log >= LOG_EVERY_SECONDS:
            self._last_log = time.monotonic()
            self.logger.info("progress %s: %s", status.phase, status.progress.figures().text())
        if status.progress is not None and self.on_progress is not None and not final:
            self.on_progress(status.phase, status.progress.figures().text())
        if write and self.backup_dir.is_dir():
            try:
                write_status(self.backup_dir, status)
            except OSError:
                pass  # a full disk is the backup's and the report's to say; the display goes on

    def _draw(self, status: RunStatus) -> None:
        assert self._progress is not None
        rows: dict[str, tuple[float, float, str]] = {}
        if status.progress is not None:
            figures = status.progress.figures()
            rows[status.phase] = (figures.done, max(figures.total, 1), figures.text())
        elif status.gate is not None:
            rows[f"sign-off {status.gate.gate}"] = (0, 1, f"waiting for {', '.join(status.gate.waiting_for)}")
        else:
            rows[status.phase] = (0, 1, "")
        for chunk in status.chunks:
            rows[f"  chunk {chunk.index:04d}"] = (chunk.done, max(chunk.total, 1), f"{chunk.done:,}/{chunk.total:,}")
        for name in [name for name in self._bars if name not in rows]:
            self._progress.remove_task(self._bars.pop(name))
        for name, (done, total, figures) in rows.items():
            if name not in self._bars:
                self._bars[name] = self._progress.add_task(name, total=total, figures=figures)
            self._progress.update(self._bars[name], completed=done, total=total, figures=figures)

    def _run(self) -> None:
        ticks = 0
        while not self._stop.wait(TICK_SECONDS):
            ticks += 1
            try:
                self._tick(write=ticks % STATUS_EVERY_TICKS == 0)
            except Exception as exc:  # noqa: BLE001 - the display must never stop the run
                self.logger.debug("display tick failed: %s", exc)
