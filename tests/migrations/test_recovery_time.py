"""The RTO of each way back, from the figures a run measured (pure)."""

from __future__ import annotations

import pytest

from om_runbook.migrations.backup_format import SnapshotInfo
from om_runbook.migrations.recovery_time import (
    estimate_after_migration,
    estimate_before_migration,
    rto_evidence,
    rto_kpis,
)

pytestmark = pytest.mark.pure
SNAPSHOT = SnapshotInfo(taken=True, load_seconds=2.0, restore_keys_per_second=10_000.0)


def test_before_the_migration_the_rollback_is_two_passes_at_the_assessment_s_read_rate():
    estimate = estimate_before_migration(50_000, 25_000.0, SNAPSHOT, 100_000)
    assert estimate.logical_rollback_seconds == pytest.approx(4.0)
    assert estimate.snapshot_restore_seconds == pytest.approx(12.0)  # 2 s load + 100k keys at 10k keys/s
    text = rto_evidence(estimate)
    assert text.startswith("logical rollback about 4 s (2 passes over 50,000 keys at 25,000 keys/s")
    assert "snapshot restore about 12 s (load 2.00 s (restore test) + 100,000 keys at 10,000 keys/s" in text


def test_after_the_migration_the_rollback_repeats_the_migrate_and_verify_phases():
    estimate = estimate_after_migration(30.0, 12.5, SNAPSHOT, 1_000_000)
    assert estimate.logical_rollback_seconds == pytest.approx(42.5)
    assert estimate.snapshot_restore_seconds == pytest.approx(102.0)
    assert [k.met for k in rto_kpis(estimate)] == [True, True]


@pytest.mark.parametrize(
    ("snapshot", "reason"),
    [
        (None, "no RDB snapshot in this run"),
        (SnapshotInfo(taken=False), "no RDB snapshot in this run"),
        (SnapshotInfo(taken=True, load_seconds=1.0), "the restore test measured no restore rate"),
    ],
)
def test_without_a_measured_snapshot_its_restore_time_is_not_available_not_guessed(snapshot, reason):
    estimate = estimate_before_migration(10, 0.0, snapshot, 10)
    assert estimate.logical_rollback_seconds is None and estimate.snapshot_restore_seconds is None
    assert f"snapshot restore not available ({reason})" in rto_evidence(estimate)
    assert [k.met for k in rto_kpis(estimate)] == [None, None]
