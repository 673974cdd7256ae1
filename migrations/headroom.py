"""Pre-migration headroom checks: disk for the backups, memory on the server (pure)."""

from __future__ import annotations

DISK_MARGIN = 1.2  # backups may exceed the estimate (line overhead, snapshot growth)
MEMORY_REFUSE_SHARE = 0.90
MEMORY_WARN_SHARE = 0.80


EVICTION_HEADROOM = 2.0  # maxmemory this many times used_memory: pipelined replies and the fork need room


def eviction_refusal(*, policy: str, maxmemory: int, used_memory: int) -> str | None:
    """A refusal when the server may evict keys while the run reads and writes (maxmemory set, a policy other than
    noeviction); None when it cannot."""
    if not maxmemory or policy == "noeviction":
        return None
    needed = EVICTION_HEADROOM * used_memory
    scope = "keys with a TTL (volatile-*)" if policy.startswith("volatile") else "any key"
    return (
        f"maxmemory-policy is {policy} with maxmemory {maxmemory / 1e6:,.1f} MB ({used_memory / 1e6:,.1f} MB used): "
        f"Redis may evict {scope} while the run reads and writes (the replies of pipelined reads and the snapshot's "
        "fork count against maxmemory), and an evicted record is lost. Set `CONFIG SET maxmemory-policy noeviction` "
        f"for the run, or give it headroom (maxmemory at least {needed / 1e6:,.1f} MB, {EVICTION_HEADROOM:.0f}x used) "
        "and pass --allow-eviction (volatile-*: when the model keys have no TTL); any eviction still stops the run. "
        "Nothing was written"
    )


def eviction_message(evicted: int, policy: str, snapshot: str) -> str:
    return (
        f"Redis evicted {evicted:,} key(s) during the run (maxmemory-policy {policy}): the run stopped. Evicted "
        f"records are gone from Redis, and {snapshot} is the only copy of them (the logical backup holds only the "
        "datetime fields). No automatic rollback: its writes could evict more. Free memory or set "
        "maxmemory-policy noeviction, then run `om-runbook rollback` with this --backup-dir, or restore the snapshot"
    )


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
