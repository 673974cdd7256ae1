"""Writing the run report where the user asked for it."""

from __future__ import annotations

import shutil
from pathlib import Path

from om_runbook.migrations.errors import ConfigurationError
from om_runbook.migrations.report import RunReport
from om_runbook.tasks.backup_store.backup_format import write_atomically
from om_runbook.tasks.backup_store.html_report import write_html_report


def write_report(path: Path | None, report: RunReport) -> None:
    if path is not None:
        write_atomically(path, report.model_dump_json(indent=2))


def archive_run(backup_dir: Path, report: RunReport, checklist_markdown: str | None, name: str) -> Path:
    """The run's report (`NAME.json` and `NAME.html` with charts) and checklist next to its backup, so the backup
    directory is the archive; the HTML report's path."""
    folder = backup_dir / "archive"
    write_atomically(folder / f"{name}.json", report.model_dump_json(indent=2))
    if checklist_markdown is not None:
        write_atomically(folder / "checklist.md", checklist_markdown)
    return write_html_report(backup_dir, report, name)


REPORT_WRITE_ERRORS = (OSError, ValueError)  # a full disk; a value the report cannot hold


def prepare_archive_copy(destination: Path) -> None:
    """The directory a rehearsal copies its archive to exists and takes files (checked before the rehearsal)."""
    try:
        destination.mkdir(parents=True, exist_ok=True)
        probe = destination / ".om-runbook-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigurationError(f"--archive-dir {destination}: cannot write there ({exc.strerror or exc})") from None


def keep_archive(backup_dir: Path, destination: Path) -> list[Path]:
    """A copy of the backup directory's archive in `destination` (files of an earlier copy replaced); its HTML
    reports."""
    if (backup_dir / "archive").is_dir():
        shutil.copytree(backup_dir / "archive", destination, dirs_exist_ok=True)
    return sorted(destination.glob("*.html"))
