"""Files that carry the throttle and live tuning between processes, in the run's backup directory:
`control.json` (what `om-runbook tune` asked), `progress/latency.json` (the probe's live p99) and
`progress/pace.json` (what the chunks follow), kept current by a PaceController thread in the flow."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pydantic import ValidationError

from om_runbook.migrations.errors import ConfigurationError
from om_runbook.migrations.run_status import ThrottleState
from om_runbook.migrations.throttle import (
    Pace,
    PaceEvent,
    Tuning,
    delay_event,
    next_delay,
    throttled_seconds,
    tuning_events,
)
from om_runbook.migrations.timeline import ProbeReading
from om_runbook.tasks.backup_store.backup_format import write_atomically
from om_runbook.tasks.io.progress_meter import METER


def control_path(backup_dir: Path) -> Path:
    return backup_dir / "control.json"


def latency_status_path(backup_dir: Path) -> Path:
    return backup_dir / "progress" / "latency.json"


def pace_path(backup_dir: Path) -> Path:
    return backup_dir / "progress" / "pace.json"


def read_tuning(backup_dir: Path) -> Tuning:
    try:
        return Tuning.model_validate_json(control_path(backup_dir).read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError):
        return Tuning()


def write_tuning(backup_dir: Path, change: Tuning) -> Tuning:
    """Merge `change` into the run's control file; the running flow picks it up within a second."""
    if not (backup_dir / "manifest.json").exists():
        raise ConfigurationError(f"{backup_dir} holds no migration (no manifest.json): nothing to tune")
    merged = read_tuning(backup_dir).model_copy(update=change.model_dump(exclude_none=True))
    write_atomically(control_path(backup_dir), merged.model_dump_json())
    return merged


def read_probe_reading(backup_dir: Path, max_age_seconds: float = 5.0) -> ProbeReading | None:
    """The probe's latest figures; None when there are none or they are old (the probe stopped: never throttle on
    an old reading)."""
    try:
        reading = ProbeReading.model_validate_json(latency_status_path(backup_dir).read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError):
        return None
    return reading if time.time() - reading.at <= max_age_seconds else None


class PaceReader:
    """The chunks' view of pace.json, re-read only when the file changed."""

    def __init__(self, backup_dir: Path) -> None:
        self.path = pace_path(backup_dir)
        self._stamp: int | None = None
        self._pace = Pace()

    def __call__(self) -> Pace:
        try:
            stamp = self.path.stat().st_mtime_ns
        except OSError:
            return Pace()
        if stamp != self._stamp:
            try:
                self._pace = Pace.model_validate_json(self.path.read_text(encoding="utf-8"))
                self._stamp = stamp
            except (OSError, ValidationError, ValueError):
                pass  # being replaced: keep the last good one
        return self._pace


class PaceController:
    """`with PaceController(backup_dir, limit_ms):` around the chunks: every `interval` s it reads the live p99 and
    the control file and rewrites pace.json; `events` is the record of every change, for the report."""

    def __init__(self, backup_dir: Path, limit_ms: float | None, interval: float = 0.25) -> None:
        self.backup_dir, self.limit_ms, self.interval = backup_dir, limit_ms, interval
        self.events: list[PaceEvent] = []
        self.delay = 0.0
        self.tuning = Tuning()
        self.started = time.monotonic()
        self.started_at = time.time()  # the epoch of the events' at_seconds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="om-runbook-pace", daemon=True)

    def __enter__(self) -> PaceController:
        control_path(self.backup_dir).unlink(missing_ok=True)  # this run's flags win over an earlier run's tuning
        self.step()  # the first batch already follows the probe's first reading
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        pace_path(self.backup_dir).unlink(missing_ok=True)
        METER.throttle = None
        if self.delay:
            self.events.append(PaceEvent(at_seconds=self.elapsed(), delay_seconds=0.0, reason="chunks finished"))

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 2)

    def step(self) -> None:
        tuning = read_tuning(self.backup_dir)
        self.events += tuning_events(self.tuning, tuning, self.elapsed(), self.delay)
        self.tuning = tuning
        limit = (tuning.max_latency_ms if tuning.max_latency_ms is not None else self.limit_ms) or None  # 0 = off
        reading = read_probe_reading(self.backup_dir)
        p99 = reading.p99_ms if reading is not None else None
        delay = next_delay(self.delay, p99, limit)
        event = delay_event(self.delay, delay, p99, limit, self.elapsed())
        if event is not None:
            self.events.append(event)
        self.delay = delay
        METER.throttle = ThrottleState(
            p99_ms=p99,
            limit_ms=limit,
            delay_seconds=delay,
            throttled_seconds=throttled_seconds(self.events, self.elapsed()),
        )
        self._write()

    def _write(self) -> None:
        pace = Pace(delay_seconds=self.delay, batch_size=self.tuning.batch_size, parallel=self.tuning.parallel)
        if not self.backup_dir.is_dir():
            return  # the backup directory went away: the chunks report it, and it is not re-created here
        try:
            write_atomically(pace_path(self.backup_dir), pace.model_dump_json(), within=self.backup_dir)
        except OSError:
            pass  # a full disk: the chunks keep the last pace they read (the chunks report the disk themselves)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.step()
            except OSError:
                continue  # a full or vanished disk is reported by the chunks themselves
