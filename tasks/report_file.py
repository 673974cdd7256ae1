"""Writing the run report where the user asked for it."""

from __future__ import annotations

from pathlib import Path

from migrations.report import RunReport
from tasks.backup_files import write_atomically


def write_report(path: Path | None, report: RunReport) -> None:
    if path is not None:
        write_atomically(path, report.model_dump_json(indent=2))
