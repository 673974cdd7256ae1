"""The codec's fast classification (isoformat parsed in C, instants in integer microseconds, CPython's fromtimestamp()
rounding reproduced) against the straightforward one: CPython's own datetime arithmetic and fromtimestamp(), on
values across years 1-9999, fractions, offsets with seconds, zones with gaps, folds and odd historical offsets."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from om_runbook.migrations.codec import (
    EPOCH,
    FieldKind,
    ValueClass,
    classify_value,
    date_timestamp,
    encode_timestamp,
    parse_legacy,
    read_back,
)

ZONES = [ZoneInfo(name) for name in ("UTC", "America/New_York", "Australia/Lord_Howe", "Europe/Amsterdam",
                                     "Africa/Monrovia", "Pacific/Kiritimati", "Asia/Kolkata")]  # fmt: skip
_ONE_SECOND = timedelta(seconds=1)
_ONE_MICROSECOND = timedelta(microseconds=1)
_FIRST = datetime.min.replace(tzinfo=timezone.utc)
_LAST = datetime.max.replace(tzinfo=timezone.utc)


def reference(raw: bytes, kind: FieldKind, zone: tzinfo) -> tuple[ValueClass, bytes | None]:
    """What redis-om 1.x would write, computed the plain way: `.timestamp()` as CPython computes it, and accepted only
    when `datetime.fromtimestamp(ts, UTC)` gives the same instant back."""
    try:
        number = float(raw)
    except ValueError:
        pass
    else:
        if raw.strip() == raw and raw.lstrip(b"-").replace(b".", b"", 1).replace(b"e", b"", 1).isdigit():
            return (ValueClass.CONVERTED if read_back(number) else ValueClass.UNPARSEABLE), None
    try:
        parsed = parse_legacy(raw)
    except ValueError:
        return ValueClass.UNPARSEABLE, None
    if not isinstance(parsed, datetime):
        if kind is FieldKind.DATE:
            return ValueClass.LEGACY_DATE, encode_timestamp(date_timestamp(parsed))
        parsed = datetime(parsed.year, parsed.month, parsed.day)
    elif kind is FieldKind.DATE:
        if parsed.time() != datetime.min.time():
            return ValueClass.UNPARSEABLE, None
        return ValueClass.LEGACY_DATE, encode_timestamp(date_timestamp(parsed.date()))
    if parsed.tzinfo is None:
        instant = parsed.replace(tzinfo=zone, fold=0)
        seconds = (parsed.replace(microsecond=0, tzinfo=zone, fold=0) - EPOCH) // _ONE_SECOND
        timestamp = float(seconds) + parsed.microsecond / 1e6
        value_class = ValueClass.LEGACY_NAIVE
    else:
        instant = parsed
        timestamp = ((parsed - EPOCH) // _ONE_MICROSECOND) / 10**6
        value_class = ValueClass.LEGACY_AWARE
    if not _FIRST <= instant <= _LAST or read_back(timestamp) != instant.astimezone(timezone.utc):
        return ValueClass.UNPARSEABLE, None
    return value_class, encode_timestamp(timestamp)


def fast(raw: bytes, kind: FieldKind, zone: tzinfo) -> tuple[ValueClass, bytes | None]:
    result = classify_value(raw, kind, zone)
    return result.value_class, None if result.timestamp is None else encode_timestamp(result.timestamp)


offsets = st.builds(
    timedelta,
    hours=st.integers(-23, 23),
    minutes=st.integers(0, 59),
    seconds=st.sampled_from([0, 0, 0, 15, 59]),
    microseconds=st.sampled_from([0, 0, 0, 0, 1, 500000]),
).map(lambda delta: timezone(delta))
moments = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
    st.datetimes(min_value=datetime(1969, 12, 31), max_value=datetime(1970, 1, 2)),
)


def written_forms(value: datetime) -> list[bytes]:
    """How a 0.x writer could have stored it: isoformat() (redis-om's HashModel), pydantic's `Z`, other ISO forms."""
    forms = [
        value.isoformat(),
        value.isoformat(sep=" "),
        value.isoformat(timespec="milliseconds"),
        value.date().isoformat(),
    ]
    if value.utcoffset() == timedelta(0):
        forms.append(value.isoformat().replace("+00:00", "Z"))
    return [form.encode() for form in forms]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    moment=moments, aware=st.booleans(), offset=offsets, zone=st.sampled_from(ZONES), kind=st.sampled_from(FieldKind)
)
@example(datetime(9999, 12, 31, 23, 59, 59, 999999), False, timezone.utc, ZONES[0], FieldKind.DATETIME)
@example(datetime(1, 1, 1), True, timezone(timedelta(hours=5)), ZONES[0], FieldKind.DATETIME)
@example(datetime(1, 1, 1), False, timezone.utc, ZONES[1], FieldKind.DATETIME)
@example(datetime(2023, 3, 12, 2, 30), False, timezone.utc, ZONES[1], FieldKind.DATETIME)  # New York's gap
@example(datetime(2023, 11, 5, 1, 30, 0, 1), False, timezone.utc, ZONES[1], FieldKind.DATETIME)  # and its fold
@example(datetime(1937, 6, 1, 12), False, timezone.utc, ZONES[3], FieldKind.DATETIME)  # Amsterdam at +00:19:32
@example(datetime(1969, 12, 31, 23, 59, 59, 999999), True, timezone.utc, ZONES[0], FieldKind.DATETIME)
@example(datetime(2023, 12, 1), True, timezone(timedelta(hours=-3)), ZONES[0], FieldKind.DATE)
def test_the_fast_classification_equals_the_plain_computation(moment, aware, offset, zone, kind):
    value = moment.replace(tzinfo=offset) if aware else moment
    try:
        forms = written_forms(value)
    except (OverflowError, ValueError):  # an offset moves the UTC instant out of range: the forms are still text
        forms = [moment.isoformat().encode() + offset.tzname(None).removeprefix("UTC").encode()]
    for raw in forms:
        assert fast(raw, kind, zone) == reference(raw, kind, zone), raw


@pytest.mark.parametrize(
    "raw",
    [b"2023-W48-5", b"20231201", b"2023-12-01T14:30:22.1234", b"2023-12-01T14:30", b"2023-12-01T14:30:22+0530",
     b"2023-12-01T14:30:22,5", b"2023-12-01T14:30:22.000000", b"2023-12-01T14:30:22+00:00Z", b"2023-12-01Z"],
)  # fmt: skip
@pytest.mark.parametrize("kind", list(FieldKind))
def test_forms_isoformat_does_not_write_take_the_general_parser(raw, kind):
    assert fast(raw, kind, ZONES[1]) == reference(raw, kind, ZONES[1])


def test_date_only_values_in_both_field_kinds():
    for day in (date(1, 1, 1), date(1969, 12, 31), date(2024, 2, 29), date(9999, 12, 31)):
        raw = day.isoformat().encode()
        for kind in FieldKind:
            for zone in ZONES:
                assert fast(raw, kind, zone) == reference(raw, kind, zone), (raw, kind, zone)
