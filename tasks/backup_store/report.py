"""Writing the run report where the user asked for it."""

from __future__ import annotations

from pathlib import Path

from om_runbook.migrations.report import RunReport
from om_runbook.tasks.backup_store.backup_format import write_atomically


def write_report(path: Path | None, report: RunReport) -> None:
    if path is not None:
        write_atomically(path, report.model_dump_json(indent=2))


def archive_run(backup_dir: Path, report: RunReport, checklist_markdown: str) -> Path:
    """The run's report and checklist next to its backup, so the backup directory is the archive."""
    folder = backup_dir / "archive"
    write_atomically(folder / "run-report.json", report.model_dump_json(indent=2))
    write_atomically(folder / "checklist.md", checklist_markdown)
    return folder
