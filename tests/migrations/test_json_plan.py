from __future__ import annotations

import json
from datetime import timezone
from zoneinfo import ZoneInfo

import pytest

from om_runbook.migrations.backup_format import FieldChange
from om_runbook.migrations.codec import FieldKind, ValueClass
from om_runbook.migrations.fields import DatetimeField
from om_runbook.migrations.json_plan import (
    document_digest,
    field_state,
    json_path_of,
    model_path,
    numeric_view,
    others_digest,
    parse_path,
    plan_document,
    split_digest,
    value_at,
)

FIELDS = (
    DatetimeField(("created_at",), FieldKind.DATETIME),
    DatetimeField(("closed_at",), FieldKind.DATETIME, optional=True),
    DatetimeField(("logins", "[*]"), FieldKind.DATETIME),
    DatetimeField(("address", "moved_in"), FieldKind.DATETIME),
    DatetimeField(("lines", "[*]", "shipped_on"), FieldKind.DATE),
)
DOCUMENT = {
    "pk": "A1",
    "created_at": "2023-12-01T14:30:22",
    "closed_at": None,
    "logins": ["2023-12-01T14:30:22Z", "2022-06-01T09:00:00+05:30", 1701441022.0],
    "address": {"pk": "E1", "moved_in": "1969-07-20T20:17:40.000001+00:00"},
    "lines": [{"pk": "L1", "shipped_on": "2023-12-02"}, {"pk": "L2", "shipped_on": None}, {"pk": "L3"}],
}


def test_every_datetime_at_every_depth_becomes_the_float_redis_om_1_writes():
    plan = plan_document(b"k", json.dumps(DOCUMENT).encode(), FIELDS, timezone.utc)
    assert plan.changes == (
        FieldChange(b"$.created_at", b'"2023-12-01T14:30:22"', b"1701441022.0"),
        FieldChange(b"$.logins[0]", b'"2023-12-01T14:30:22Z"', b"1701441022.0"),
        FieldChange(b"$.logins[1]", b'"2022-06-01T09:00:00+05:30"', b"1654054200.0"),
        FieldChange(b"$.address.moved_in", b'"1969-07-20T20:17:40.000001+00:00"', b"-14182939.999999"),
        FieldChange(b"$.lines[0].shipped_on", b'"2023-12-02"', b"1701475200.0"),
    )
    classes = [value_class for _name, value_class in plan.classes]
    assert classes.count(ValueClass.CONVERTED) == 1 and classes.count(ValueClass.MISSING) == 3  # null, null, absent
    assert plan.problems == ()


def test_naive_values_are_read_in_the_naive_timezone():
    plan = plan_document(b"k", b'{"created_at": "2023-12-01T14:30:22"}', FIELDS[:1], ZoneInfo("America/New_York"))
    assert plan.changes[0].target == b"1701459022.0"


@pytest.mark.parametrize(
    ("value", "kind"),
    [('"next tuesday"', "unparseable"), ('""', "empty"), ("true", "unparseable"), ('{"a": 1}', "unparseable")],
)
def test_a_value_that_cannot_be_converted_is_reported_with_its_path_and_left(value, kind):
    raw = f'{{"logins": ["2023-12-01T14:30:22Z", {value}]}}'.encode()
    plan = plan_document(b"k", raw, FIELDS[2:3], timezone.utc)
    assert [change.field for change in plan.changes] == [b"$.logins[0]"]
    assert [(p.kind, p.field) for p in plan.problems] == [(kind, "$.logins[1]")]


def test_paths_digests_and_read_back_states():
    assert parse_path("$.lines[2].shipped_on") == ["lines", 2, "shipped_on"]
    with pytest.raises(ValueError):
        parse_path("$..x")
    assert model_path("$.lines[12].shipped_on") == "$.lines[*].shipped_on"
    assert json_path_of(("lines", 0, "shipped_on")) == "$.lines[0].shipped_on"
    assert value_at(DOCUMENT, "$.address.moved_in").startswith("1969")
    raw = json.dumps(DOCUMENT).encode()
    plan = plan_document(b"k", raw, FIELDS, timezone.utc)
    sha1, others = split_digest(document_digest(raw, plan.changes))
    migrated = json.loads(raw)
    migrated["created_at"], migrated["logins"][0] = 1701441022.0, 1701441022.0
    paths = [change.field.decode() for change in plan.changes]
    assert others_digest(migrated, paths) == others  # only the changed values differ
    migrated["pk"] = "changed"
    assert others_digest(migrated, paths) != others
    created = plan.changes[0]
    assert field_state({"created_at": 1701441022.0}, created, "target") == "as_expected"
    assert field_state({"created_at": 1701441022}, created, "target") == "as_expected"  # a number, as RedisJSON prints
    assert field_state({"created_at": "2023-12-01T14:30:22"}, created, "target") == "not_applied"
    assert field_state({"created_at": "2023-12-01T14:30:22"}, created, "original") == "as_expected"
    assert field_state({"created_at": 5.0}, created, "target") == "changed_by_others"
    assert field_state({}, created, "target") == "missing"
    assert len(sha1) == 40


def test_a_document_seen_by_its_numeric_index_paths():
    raw = b'{"at": 1.5, "bad": "2023-01-01", "none": null, "items": [{"t": 2.0}, {"t": "x"}]}'
    view = numeric_view(raw, (b"$.at", b"$.bad", b"$.none", b"$.items[*].t", b"$.absent"))
    assert view == {b"$.at": b"1.5", b"$.bad": b'"2023-01-01"', b"$.items[*].t": b'"x"'}
