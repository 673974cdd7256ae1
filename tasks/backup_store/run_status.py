"""`status.json` in a run's backup directory: the live state `om-runbook status` reads from any terminal."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from om_runbook.migrations.errors import ConfigurationError
from om_runbook.migrations.run_status import RunStatus

STATUS_NAME = "status.json"


def status_path(backup_dir: Path) -> Path:
    return backup_dir / STATUS_NAME


def write_status(backup_dir: Path, status: RunStatus) -> None:
    """Replace atomically (a reader never sees a torn file); no fsync: it is rewritten every second."""
    path = status_path(backup_dir)
    temporary = path.with_name(f"{STATUS_NAME}.{os.getpid()}.tmp")
    temporary.write_text(status.model_dump_json(indent=1), encoding="utf-8")
    os.replace(temporary, path)


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
