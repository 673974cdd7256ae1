"""The checklist's "Recovery time objective (RTO) documented": how long each way back would take, from figures the
run measured (pure).

- The logical rollback (`om-runbook rollback`, or the automatic one) is one compare-and-set pass over the changed
  keys and one check pass. Before the migration it is estimated at the assessment's measured read rate; after it,
  from the migrate phase (the same compare-and-set work) and the verify phase (the same check).
- The snapshot restore (`om-runbook restore-snapshot --confirm`) loads the snapshot, compares, writes back and
  checks each key. It is estimated from the restore test: its load time, and its measured rate of that per-key
  work on a sample of keys.
"""

from __future__ import annotations

from pydantic import BaseModel

from om_runbook.migrations.backup_format import SnapshotInfo
from om_runbook.migrations.progress_figures import human_duration
from om_runbook.migrations.report import KpiCheck

ROLLBACK_PASSES = 2  # the compare-and-set pass and the check pass


class RecoveryEstimate(BaseModel):
    logical_rollback_seconds: float | None = None
    logical_basis: str = ""
    snapshot_restore_seconds: float | None = None
    snapshot_basis: str = ""


def snapshot_restore_estimate(snapshot: SnapshotInfo | None, keys: int) -> tuple[float | None, str]:
    if snapshot is None or not snapshot.taken:
        return None, "no RDB snapshot in this run"
    if not snapshot.restore_keys_per_second:
        return None, "the restore test measured no restore rate"
    seconds = snapshot.load_seconds + keys / snapshot.restore_keys_per_second
    return seconds, (
        f"load {snapshot.load_seconds:.2f} s (restore test) + {keys:,} keys at {snapshot.restore_keys_per_second:,.0f} "
        "keys/s (compare, DUMP/RESTORE, check, measured on a sample in the restore test)"
    )


def estimate_before_migration(
    keys_to_change: int, read_keys_per_second: float, snapshot: SnapshotInfo | None, model_keys: int
) -> RecoveryEstimate:
    """At the go/no-go gate: nothing written yet, so the rollback is estimated at the assessment's read rate."""
    logical = ROLLBACK_PASSES * keys_to_change / read_keys_per_second if read_keys_per_second else None
    restore, basis = snapshot_restore_estimate(snapshot, model_keys)
    return RecoveryEstimate(
        logical_rollback_seconds=logical,
        logical_basis=f"{ROLLBACK_PASSES} passes over {keys_to_change:,} keys at {read_keys_per_second:,.0f} keys/s "
        "(the assessment's read rate)",
        snapshot_restore_seconds=restore,
        snapshot_basis=basis,
    )


def estimate_after_migration(
    migrate_seconds: float, verify_seconds: float, snapshot: SnapshotInfo | None, model_keys: int
) -> RecoveryEstimate:
    """After the writes: the rollback repeats the migrate phase's compare-and-set and the verify phase's check."""
    restore, basis = snapshot_restore_estimate(snapshot, model_keys)
    return RecoveryEstimate(
        logical_rollback_seconds=migrate_seconds + verify_seconds,
        logical_basis=f"the migrate phase ({migrate_seconds:.2f} s, the same compare-and-set) + the verify phase "
        f"({verify_seconds:.2f} s, the same check)",
        snapshot_restore_seconds=restore,
        snapshot_basis=basis,
    )


def _shown(seconds: float | None) -> str:
    return "not available" if seconds is None else human_duration(seconds)


def rto_evidence(estimate: RecoveryEstimate) -> str:
    return (
        f"logical rollback {_shown(estimate.logical_rollback_seconds)} ({estimate.logical_basis}); snapshot restore "
        f"{_shown(estimate.snapshot_restore_seconds)} ({estimate.snapshot_basis})"
    )


def rto_kpis(estimate: RecoveryEstimate) -> list[KpiCheck]:
    """The two recovery times as rows of the KPI table: the checklist asks for them documented and sets no target;
    one that could not be estimated is "not measured"."""
    return [
        KpiCheck(name="RTO: logical rollback", value=_shown(estimate.logical_rollback_seconds),
                 target="documented", met=True if estimate.logical_rollback_seconds is not None else None),
        KpiCheck(name="RTO: snapshot restore", value=_shown(estimate.snapshot_restore_seconds),
                 target="documented", met=True if estimate.snapshot_restore_seconds is not None else None),
    ]  # fmt: skip
