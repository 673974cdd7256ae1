"""What the migration does to one stored hash: classify its datetime fields, list the changes (pure)."""

from __future__ import annotations

from datetime import tzinfo
from typing import NamedTuple

from om_runbook.migrations.backup_format import FieldChange, Problem
from om_runbook.migrations.codec import (
    Classification,
    FieldKind,
    ValueClass,
    classify_value,
    describe_raw,
    encode_timestamp,
)
from om_runbook.migrations.fields import DatetimeField


class KeyPlan(NamedTuple):
    changes: tuple[FieldChange, ...]
    classes: tuple[tuple[str, ValueClass], ...]
    problems: tuple[Problem, ...]


FieldSpecs = tuple[tuple[str, bytes, FieldKind, bool], ...]
_EMPTY_FOR_NONE = Classification(ValueClass.EMPTY_FOR_NONE)


def field_specs(fields: tuple[DatetimeField, ...]) -> FieldSpecs:
    """(name, encoded name, kind, optional) per hash field, computed once per model."""
    return tuple((field.name, field.name.encode(), field.kind, field.optional) for field in fields)


def _problem(key: bytes, name: str, raw: bytes, result: Classification) -> Problem | None:
    if result.value_class is ValueClass.UNPARSEABLE:
        return Problem(
            kind="unparseable",
            key=describe_raw(key),
            field=name,
            value=describe_raw(raw),
            message=f"{result.reason}; left unchanged",
        )
    if result.value_class is ValueClass.EMPTY:
        return Problem(
            kind="empty",
            key=describe_raw(key),
            field=name,
            value="",
            message="empty string in a field that is not Optional (redis-om 1.x cannot read it); left unchanged",
        )
    return None


def plan_hash(
    key: bytes,
    stored: dict[bytes, bytes],
    specs: FieldSpecs,
    zone: tzinfo,
) -> KeyPlan:
    """Classify every datetime field of one hash and list the fields to change, with their targets: a timestamp, or
    None (remove the field) for the '' that redis-om 0.2.x wrote for None in an Optional field, which redis-om 1.x
    writes by omitting the field (a NUMERIC index refuses a hash holding '' in such a field)."""
    changes: list[FieldChange] = []
    classes: list[tuple[str, ValueClass]] = []
    problems: list[Problem] = []
    for name, encoded, kind, optional in specs:
        raw = stored.get(encoded)
        result = classify_value(raw, kind, zone)
        if optional and result.value_class is ValueClass.EMPTY:
            result = _EMPTY_FOR_NONE
            changes.append(FieldChange(encoded, b"", None))
        classes.append((name, result.value_class))
        if result.timestamp is not None:
            changes.append(FieldChange(encoded, raw, encode_timestamp(result.timestamp)))
        elif raw is not None:
            problem = _problem(key, name, raw, result)
            if problem is not None:
                problems.append(problem)
    return KeyPlan(tuple(changes), tuple(classes), tuple(problems))


def converted_by_earlier_run(key: bytes, plan: KeyPlan, earlier_backup: str) -> list[Problem]:
    """The already-converted fields of a key, as values whose original only an earlier run's backup holds."""
    return [
        Problem(
            kind="earlier_backup_only",
            key=describe_raw(key),
            field=name,
            message=f"already converted before this run: its original is only in the backup {earlier_backup}",
        )
        for name, value_class in plan.classes
        if value_class is ValueClass.CONVERTED
    ]


def wrong_type_problem(key: bytes, actual_type: str, expected: str = "a hash") -> Problem:
    return Problem(
        kind="wrong_type",
        key=describe_raw(key),
        message=f"key holds a {actual_type}, not {expected}, under a model's key prefix; left unchanged",
    )
