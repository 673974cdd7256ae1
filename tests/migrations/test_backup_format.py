from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from om_runbook.migrations.backup_format import (
    FieldChange,
    KeyBackup,
    SnapshotInfo,
    decode_line,
    digest_other_fields,
    encode_line,
)
from om_runbook.migrations.error_budget import refusal_before_writes, remaining_budget
from om_runbook.migrations.report import compute_kpis

raw = st.binary(max_size=64)


@given(key=raw, changes=st.lists(st.tuples(raw, raw, st.none() | raw), max_size=5))
def test_backup_lines_round_trip_any_bytes(key, changes):
    entry = KeyBackup(key, "d" * 32, tuple(FieldChange(*c) for c in changes))
    line = encode_line(entry)
    assert line.endswith("\n") and line.count("\n") == 1
    assert decode_line(line) == entry


def test_digest_ignores_order_and_changed_fields_but_sees_everything_else():
    base = {b"a": b"1", b"b": b"2", b"at": b"2023-01-01"}
    same = {b"at": b"1672531200.0", b"b": b"2", b"a": b"1"}
    assert digest_other_fields(base, [b"at"]) == digest_other_fields(same, [b"at"])
    assert digest_other_fields(base, [b"at"]) != digest_other_fields({**base, b"b": b"3"}, [b"at"])
    assert digest_other_fields({b"ab": b"c"}, []) != digest_other_fields({b"a": b"bc"}, [])


def test_failure_mode_fail_and_max_errors_refuse_before_writes():
    assert refusal_before_writes(0, "fail", None) is None
    assert "failure-mode is fail" in refusal_before_writes(1, "fail", None)
    assert refusal_before_writes(5, "log_and_skip", 5) is None
    assert "more than --max-errors 5" in refusal_before_writes(6, "skip", 5)
    assert remaining_budget(3, 5) == 2 and remaining_budget(3, None) is None and remaining_budget(9, 5) == 0


def test_kpi_rates_count_every_value_the_run_handled():
    kpis = compute_kpis(
        keys_scanned=10, keys_migrated=9, converted=97, already_converted=5, failed=1, conflicts=1, missing=1,
        duration_seconds=2.0,
    )  # fmt: skip
    assert kpis.error_rate == 0.01 and kpis.success_rate == 0.97
    empty = compute_kpis(
        keys_scanned=0, keys_migrated=0, converted=0, already_converted=0, failed=0, conflicts=0, missing=0,
        duration_seconds=0.0,
    )  # fmt: skip
    assert empty.error_rate == 0.0 and empty.success_rate == 1.0


@pytest.mark.parametrize(
    ("source", "restored", "with_ttl", "equal", "matches"),
    [
        (526, 526, 0, 165, True),
        (526, 506, 20, 165, True),  # 20 short-lived keys expired before the restore test loaded the snapshot
        (526, 505, 20, 165, False),  # more missing than could have expired
        (526, 527, 20, 165, False),  # more restored than the source had
        (526, 526, 0, 164, False),  # a sampled key differs
    ],
)
def test_a_restore_matches_the_source_but_for_keys_that_could_expire(source, restored, with_ttl, equal, matches):
    info = SnapshotInfo(
        taken=True, source_keys=source, restored_keys=restored, sample_keys_compared=165, sample_keys_equal=equal
    )
    assert info.restore_matches(with_ttl) is matches


def test_a_backup_directory_that_is_root_or_holds_foreign_files_is_refused():
    from om_runbook.migrations.backup_format import foreign_directory_refusal

    assert "--backup-dir / is refused" in foreign_directory_refusal("/", [])
    refusal = foreign_directory_refusal("/srv/app", ["app", "tasks.py", "README.md", "static", "status.json"])
    assert refusal == (
        "--backup-dir /srv/app holds files that are not an om-runbook backup (README.md, app, static and 1 more): "
        "give a new or empty directory; nothing was written"
    )
    assert foreign_directory_refusal("/b", []) is None
    assert foreign_directory_refusal("/b", ["status.json", "progress", "status.json.123.tmp"]) is None
    assert foreign_directory_refusal("/b", ["manifest.json", "notes.txt"]) is None  # a backup of ours
