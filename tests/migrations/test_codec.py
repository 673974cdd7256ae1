"""Test vectors for the codec. The expected bytes were produced by redis-om 1.2.0 HashModel.save() into a
real redis-server (see test_codec_matches_redis_om.py, which re-derives them on every run)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from om_runbook.migrations.codec import (
    Classification,
    FieldKind,
    ValueClass,
    classify_value,
    describe_raw,
    encode_timestamp,
    expected_value,
)
from tests.process_timezone import process_timezone

UTC = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
DT, D = FieldKind.DATETIME, FieldKind.DATE


def converted(raw: bytes, kind: FieldKind = DT, zone: ZoneInfo = UTC) -> bytes:
    result = classify_value(raw, kind, zone)
    assert result.is_legacy, result
    assert result.timestamp is not None
    return encode_timestamp(result.timestamp)


@pytest.mark.parametrize(
    ("legacy", "kind", "zone", "expected"),
    [
        (b"2023-12-01T14:30:22.123456", DT, UTC, b"1701441022.123456"),
        (b"2023-12-01T14:30:22.123456", DT, NEW_YORK, b"1701459022.123456"),
        (b"2023-12-01T14:30:22", DT, UTC, b"1701441022.0"),
        (b"2023-12-01T14:30:22+05:00", DT, UTC, b"1701423022.0"),
        (b"2023-12-01T14:30:22+05:00", DT, NEW_YORK, b"1701423022.0"),
        (b"2023-12-01T14:30:22.000500+05:30", DT, UTC, b"1701421222.0005"),
        (b"2023-12-01T14:30:22Z", DT, UTC, b"1701441022.0"),
        (b"2023-12-01T14:30:22+00:00", DT, UTC, b"1701441022.0"),
        (b"2023-07-04T09:00:00-04:00", DT, UTC, b"1688475600.0"),
        (b"1969-07-20T20:17:40.000001", DT, UTC, b"-14182939.999999"),
        (b"1970-01-01T00:00:00.000001+00:00", DT, UTC, b"1e-06"),
        (b"1960-01-01T00:00:00", DT, UTC, b"-315619200.0"),
        (b"2023-12-01", D, UTC, b"1701388800.0"),
        (b"2023-12-01", D, NEW_YORK, b"1701388800.0"),
        (b"1970-01-01", D, UTC, b"0.0"),
        (b"1969-12-31", D, UTC, b"-86400.0"),
        (b"0001-01-01", D, UTC, b"-62135596800.0"),
        (b"9999-12-31", D, UTC, b"253402214400.0"),
        (b"2023-12-01T00:00:00", D, UTC, b"1701388800.0"),
        # Spring-forward gap and fall-back fold in New York, resolved with fold=0 as CPython does.
        (b"2023-03-12T02:30:00", DT, NEW_YORK, b"1678606200.0"),
        (b"2023-11-05T01:30:00", DT, NEW_YORK, b"1699162200.0"),
        # Offsets with seconds, as isoformat() writes them.
        (b"2000-01-01T00:00:00+05:30:15", DT, UTC, b"946664985.0"),
    ],
)
def test_legacy_values_convert_to_the_bytes_redis_om_1_writes(legacy, kind, zone, expected):
    assert converted(legacy, kind, zone) == expected


def test_a_date_only_string_in_a_datetime_field_is_a_naive_midnight():
    result = classify_value(b"2023-12-01", DT, NEW_YORK)
    assert result.value_class is ValueClass.LEGACY_NAIVE
    assert encode_timestamp(result.timestamp) == b"1701406800.0"


@pytest.mark.parametrize(
    ("raw", "kind", "value_class"),
    [
        (b"2023-12-01T14:30:22", DT, ValueClass.LEGACY_NAIVE),
        (b"2023-12-01T14:30:22-03:00", DT, ValueClass.LEGACY_AWARE),
        (b"2023-12-01", D, ValueClass.LEGACY_DATE),
        (b"1701441022.123456", DT, ValueClass.CONVERTED),
        (b"-14182939.999999", DT, ValueClass.CONVERTED),
        (b"1e-06", DT, ValueClass.CONVERTED),
        (b"0.0", D, ValueClass.CONVERTED),
        (b"253402300799.0", DT, ValueClass.CONVERTED),
        # the float 253402300800.0: redis-om 1.2 cannot read it back (it would load 1978-01-11)
        (b"253402300799.999999", DT, ValueClass.UNPARSEABLE),
        (b"-62135596800.0", DT, ValueClass.CONVERTED),
        (b"9" * 40, DT, ValueClass.UNPARSEABLE),
        (b"1e300", DT, ValueClass.UNPARSEABLE),
        (b"-1e12", D, ValueClass.UNPARSEABLE),
        (b"", DT, ValueClass.EMPTY),
        (None, DT, ValueClass.MISSING),
    ],
)
def test_every_value_is_classified(raw, kind, value_class):
    assert classify_value(raw, kind, UTC).value_class is value_class


@pytest.mark.parametrize(
    ("raw", "kind", "reason_part"),
    [
        (b"not-a-date", DT, "not an ISO 8601"),
        (b"31/12/2023", DT, "not an ISO 8601"),
        (b"2023-13-45T25:61:00", DT, "month must be in 1..12"),
        (b"2023-02-30", D, "day is out of range"),
        (b"0000-01-01", D, "year 0 is out of range"),
        (b"2023-12-01T25:00:00", DT, "hour must be in 0..23"),
        (b"2023-12-01T10:00:00+25:00", DT, "offset must be a timedelta strictly between"),
        (b"2023-12-01T10:00:00.1234567", DT, "not an ISO 8601"),
        (b"  2023-12-01T14:30:22", DT, "whitespace"),
        (b"2023-12-01T14:30:22\n", DT, "whitespace"),
        (b"\xff\xfe\x00binary\x80", DT, "binary"),
        (b"2023-12-01T10:00:00", D, "time of day in a date field"),
        (b"0001-01-01T00:00:00+05:00", DT, "outside years 1-9999"),
        (b"9999-12-31T23:59:59-01:00", DT, "outside years 1-9999"),
        (b"9999-12-31T23:59:59.999999", DT, "does not read back as the same instant"),
        (b"9999-12-31T23:59:59.999999+00:00", DT, "does not read back as the same instant"),
        (b"3000-01-01T00:00:00.000001", DT, "does not read back as the same instant"),
        (b"nan", DT, "not an ISO 8601"),
        (b"2023-12-01Tnoon", DT, "not an ISO 8601"),
    ],
)
def test_unparseable_values_carry_a_reason_and_no_timestamp(raw, kind, reason_part):
    result = classify_value(raw, kind, UTC)
    assert result == Classification(ValueClass.UNPARSEABLE, None, result.reason)
    assert reason_part in result.reason


def test_a_naive_time_in_the_repeated_dst_hour_converts_with_fold_0():
    new_york = ZoneInfo("America/New_York")
    result = classify_value(b"2023-11-05T01:30:00", DT, new_york)
    assert result.value_class is ValueClass.LEGACY_NAIVE
    assert result.timestamp == 1699162200.0  # 05:30 UTC: the first 01:30 (EDT), as CPython's fold=0


def test_naive_values_ignore_the_process_timezone():
    with process_timezone("Asia/Tokyo"):
        assert converted(b"2023-12-01T14:30:22.123456") == b"1701441022.123456"


def test_describe_raw_escapes_binary_and_cuts_long_values():
    assert describe_raw(b"\xff\x00ok") == "\\xff\\x00ok"
    assert describe_raw(b"x" * 100, limit=10) == "xxxxxxxxxx..."


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        (b"2023-05-01", FieldKind.DATETIME, datetime(2023, 5, 1, tzinfo=ZoneInfo("Asia/Kolkata"))),
        (b"2023-05-01", FieldKind.DATE, date(2023, 5, 1)),
        (b"2023-05-01T00:00:00", FieldKind.DATE, date(2023, 5, 1)),
        (b"2023-05-01T10:00:00Z", FieldKind.DATETIME, datetime(2023, 5, 1, 10, tzinfo=timezone.utc)),
    ],
)
def test_the_expected_value_follows_the_field_kind(raw, kind, expected):
    loaded = expected_value(raw, kind, ZoneInfo("Asia/Kolkata"))
    assert loaded == expected and type(loaded) is type(expected)
