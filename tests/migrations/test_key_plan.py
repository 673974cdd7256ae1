from __future__ import annotations

from datetime import timezone

from om_runbook.migrations.backup_format import FieldChange
from om_runbook.migrations.codec import FieldKind, ValueClass
from om_runbook.migrations.fields import DatetimeField
from om_runbook.migrations.key_plan import field_specs, plan_hash

SPECS = field_specs(
    (
        DatetimeField(("signed_up",), FieldKind.DATETIME),
        DatetimeField(("last_login",), FieldKind.DATETIME, optional=True),
        DatetimeField(("birthday",), FieldKind.DATE, optional=True),
    )
)


def test_empty_string_in_an_optional_field_is_removed_as_redis_om_1_writes_none():
    plan = plan_hash(
        b"k", {b"signed_up": b"2023-12-01T14:30:22+00:00", b"last_login": b"", b"pk": b"1"}, SPECS, timezone.utc
    )
    assert plan.changes == (
        FieldChange(b"signed_up", b"2023-12-01T14:30:22+00:00", b"1701441022.0"),
        FieldChange(b"last_login", b"", None),
    )
    assert dict(plan.classes) == {
        "signed_up": ValueClass.LEGACY_AWARE,
        "last_login": ValueClass.EMPTY_FOR_NONE,
        "birthday": ValueClass.MISSING,
    }
    assert plan.problems == ()


def test_empty_string_in_a_required_field_is_a_reported_problem_and_left_alone():
    plan = plan_hash(b"k", {b"signed_up": b"", b"birthday": b""}, SPECS, timezone.utc)
    assert plan.changes == (FieldChange(b"birthday", b"", None),)
    assert [(p.kind, p.field) for p in plan.problems] == [("empty", "signed_up")]
    assert "not Optional" in plan.problems[0].message
