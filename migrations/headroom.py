"""Pre-migration headroom checks: disk for the backups, memory on the server (pure)."""

from __future__ import annotations

DISK_MARGIN = 1.2  # backups may exceed the estimate (line overhead, snapshot growth)
MEMORY_REFUSE_SHARE = 0.90
MEMORY_WARN_SHARE = 0.80


def headroom_findings(
    *, used_memory: int, maxmemory: int, disk_free: int | None, backup_bytes: int
) -> tuple[list[str], list[str]]:
    """(refusals, warnings): refusals stop the run before any write, warnings go into the report."""
    refusals: list[str] = []
    warnings: list[str] = []
    if disk_free is not None and disk_free < backup_bytes * DISK_MARGIN:
        refusals.append(
            f"the backup directory has {disk_free / 1e6:,.1f} MB free; the RDB snapshot and logical backup need "
            f"about {backup_bytes * DISK_MARGIN / 1e6:,.1f} MB: free space or use another --backup-dir"
        )
    if maxmemory:
        share = used_memory / maxmemory
        message = (
            f"Redis uses {100 * share:.0f}% of maxmemory ({used_memory / 1e6:,.1f} of {maxmemory / 1e6:,.1f} MB); "
            "the snapshot's fork and the migration's writes need headroom"
        )
        if share > MEMORY_REFUSE_SHARE:
            refusals.append(message + f": raise maxmemory below {100 * MEMORY_REFUSE_SHARE:.0f}% first")
        elif share > MEMORY_WARN_SHARE:
            warnings.append(message)
    return refusals, warnings
