"""`status.json` in a run's backup directory: the live state `om-runbook status` reads from any terminal."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from pydantic import ValidationError

from om_runbook.migrations.errors import ConfigurationError
from om_runbook.migrations.run_status import RunStatus
from om_runbook.migrations.timeline import Timeline

STATUS_NAME = "status.json"


def status_path(backup_dir: Path) -> Path:
    return backup_dir / STATUS_NAME


STATUS_RESERVE_BYTES = 64 * 1024  # status.json is padded to this size, so it can be rewritten in place


def write_status(backup_dir: Path, status: RunStatus) -> None:
    """Replace atomically (a reader never sees a torn file); no fsync: it is rewritten every second. The file is
    padded with spaces (valid JSON) to reserve its space: on a full disk it is rewritten in place, within the
    blocks it already holds, so `om-runbook status` stays right to the end of the run."""
    path = status_path(backup_dir)
    text = status.model_dump_json(indent=1).encode("utf-8")
    data = text.ljust(max(STATUS_RESERVE_BYTES, len(text)))
    temporary = path.with_name(f"{STATUS_NAME}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        if exc.errno != errno.ENOSPC or not path.exists() or path.stat().st_size < len(data):
            raise
        with open(path, "r+b") as handle:
            handle.write(data)


def read_status(backup_dir: Path) -> RunStatus:
    path = status_path(backup_dir)
    try:
        return RunStatus.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            f"no run has written {path}: is --backup-dir the directory the run was given?"
        ) from None
    except (OSError, ValidationError, ValueError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from None


TIMELINE_NAME = "timeline.json"


def write_timeline(backup_dir: Path, timeline: Timeline) -> None:
    """Replace atomically, without fsync (rewritten every few seconds); never re-creates a removed directory."""
    path = backup_dir / TIMELINE_NAME
    temporary = path.with_name(f"{TIMELINE_NAME}.{os.getpid()}.tmp")
    try:
        temporary.write_text(timeline.model_dump_json(), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def read_timeline(backup_dir: Path) -> Timeline:
    """The figures of the runs on this backup directory so far; none when there is no (readable) timeline yet."""
    try:
        return Timeline.model_validate_json((backup_dir / TIMELINE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError):
        return Timeline()
