"""The marker an unfinished run leaves in Redis, and what a new run makes of it (pure).

A run that began writing records its backup directory in Redis until it ends cleanly or is rolled back. A new run
with another directory would back up only the values still legacy: the originals of the values converted by the
unfinished run are in its directory alone, so the new run refuses unless the operator acknowledges that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MARKER_KEY = b"om-runbook:unfinished-run"


@dataclass(frozen=True)
class UnfinishedRun:
    backup_dir: str
    host: str
    since: str

    def encode(self) -> bytes:
        return json.dumps({"backup_dir": self.backup_dir, "host": self.host, "since": self.since}).encode()

    @classmethod
    def decode(cls, raw: bytes) -> UnfinishedRun:
        try:
            facts = json.loads(raw)
            return cls(str(facts["backup_dir"]), str(facts.get("host", "?")), str(facts.get("since", "?")))
        except (ValueError, KeyError, TypeError):
            return cls(f"(unreadable marker {raw[:80]!r})", "?", "?")

    def is_for(self, backup_dir: Path) -> bool:
        return self.backup_dir == str(backup_dir.resolve())


def unfinished_run_refusal(marker: UnfinishedRun | None, backup_dir: Path, acknowledged: bool) -> str | None:
    """Why this run must not start (None: it may): an unfinished run with another backup directory, unacknowledged."""
    if marker is None or marker.is_for(backup_dir) or acknowledged:
        return None
    return (
        f"an unfinished om-runbook run (on {marker.host}, since {marker.since}) changed values on this Redis and "
        f"keeps their originals in {marker.backup_dir}; a new run with --backup-dir {backup_dir} would back up only "
        "the values still legacy, so its rollback could not restore the others. Resume or roll back that run with "
        f"--backup-dir {marker.backup_dir}, or pass --acknowledge-unfinished-run to go on (the report then lists "
        "the values only the earlier backup holds). Nothing was written"
    )


def earlier_backup_note(marker: UnfinishedRun, already_converted: int) -> str:
    return (
        f"acknowledged: an unfinished run's backup in {marker.backup_dir} holds the originals of the "
        f"{already_converted} value(s) found already converted (kind 'earlier_backup_only' in the problems); "
        f"restore them with `om-runbook rollback --backup-dir {marker.backup_dir}`"
    )
