"""Byte-identity of our conversion with redis-om 1.2 itself: random values are saved through a redis-om 1.2
HashModel into a real redis-server, and the stored bytes are compared with our conversion of the string
redis-om 0.x stored for the same value (`isoformat()`). Naive values are saved with the process zone set
to the naive timezone, which is how redis-om 1.x interprets them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from om_runbook.migrations.codec import FieldKind, ValueClass, classify_value, encode_timestamp, same_instant
from tests.process_timezone import process_timezone

ZONES = (
    "UTC",
    "America/New_York",
    "Europe/Dublin",  # negative DST in the tz database
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",  # 30-minute DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/St_Johns",
    "Pacific/Apia",  # skipped a whole day in 2011
    "Europe/Moscow",
)
MAX_OFFSET = timedelta(hours=24) - timedelta(microseconds=1)


def proof_settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def proof_models(shared_redis_server):
    from redis_om import HashModel, get_redis_connection

    connection = get_redis_connection(url=shared_redis_server.url, decode_responses=True)

    class Stamp(HashModel, index=True):
        at: datetime.datetime

        class Meta:
            database = connection
            global_key_prefix = "codec-proof"

    class Day(HashModel, index=True):
        on: datetime.date

        class Meta:
            database = connection
            global_key_prefix = "codec-proof"

    return Stamp, Day, shared_redis_server.client()


def assert_matches(saved: Saved, expected: datetime.date, kind: FieldKind, zone_name: str) -> None:
    """Our conversion of the 0.x string equals redis-om 1.2's bytes, and redis-om 1.2 reads it back as the same
    instant; a value we refuse is one redis-om 1.2 itself cannot read back as the same instant."""
    legacy = expected.isoformat().encode()
    result = classify_value(legacy, kind, ZoneInfo(zone_name))
    if isinstance(expected, datetime.datetime) and expected.tzinfo is None:
        expected = expected.replace(tzinfo=ZoneInfo(zone_name), fold=0)  # how redis-om 1.x reads a naive value
    if result.value_class is ValueClass.UNPARSEABLE:
        assert "outside years 1-9999" in result.reason or "does not read back" in result.reason, result
        assert saved.loaded is None or not same_instant(saved.loaded, expected), (legacy, saved)
        return
    assert result.is_legacy
    assert encode_timestamp(result.timestamp) == saved.stored, (legacy, zone_name)
    assert same_instant(saved.loaded, expected), (legacy, zone_name, saved.loaded)


@dataclass
class Saved:
    stored: bytes
    loaded: object  # what Model.get() returned for the field; None when it raised


def save_and_read(model, client, field: str, value) -> Saved:
    instance = model(**{field: value})
    instance.save()
    stored = client.hget(instance.key(), field)
    try:
        loaded = getattr(model.get(instance.pk), field)
    except Exception:  # redis-om refusing its own bytes is a finding the assertion reads
        loaded = None
    client.delete(instance.key())
    return Saved(stored, loaded)


def near_dst_transitions() -> st.SearchStrategy[datetime.datetime]:
    return st.builds(
        datetime.datetime,
        year=st.integers(1900, 2100),
        month=st.sampled_from((3, 4, 9, 10, 11)),
        day=st.integers(1, 28),
        hour=st.integers(0, 4),
        minute=st.sampled_from((0, 15, 29, 30, 45, 59)),
        second=st.integers(0, 59),
        microsecond=st.one_of(st.just(0), st.integers(0, 999_999)),
    )


@proof_settings(4500)
@given(
    value=st.one_of(st.datetimes(), near_dst_transitions()),
    zone_name=st.sampled_from(ZONES),
)
@example(value=datetime.datetime(2208, 11, 6, 1, 0, fold=1), zone_name="America/New_York")  # found by a CI-like run
def test_naive_datetimes_match_redis_om_1_2(proof_models, value, zone_name):
    # 0.x wrote isoformat(), which has no fold: an ambiguous wall time (the hour repeated when DST ends) is stored as
    # its first occurrence whichever the application meant, so the value redis-om 1.2 saves is the fold=0 one
    value = value.replace(fold=0)
    stamp, _day, client = proof_models
    with process_timezone(zone_name):
        try:
            saved = save_and_read(stamp, client, "at", value)
        except (ValueError, OverflowError):
            assume(False)  # redis-om itself cannot write it (first/last day of years 1 and 9999)
    assert_matches(saved, value, FieldKind.DATETIME, zone_name)


offsets = st.timedeltas(min_value=-MAX_OFFSET, max_value=MAX_OFFSET)
zones = st.one_of(
    st.builds(timezone, offsets),
    st.sampled_from((timezone.utc,)),
    st.sampled_from(ZONES).map(ZoneInfo),
)


@proof_settings(4000)
@given(value=st.datetimes(timezones=zones), process_zone=st.sampled_from(ZONES))
def test_aware_datetimes_match_redis_om_1_2_in_any_process_zone(proof_models, value, process_zone):
    stamp, _day, client = proof_models
    with process_timezone(process_zone):
        saved = save_and_read(stamp, client, "at", value)
    assert_matches(saved, value, FieldKind.DATETIME, process_zone)


@proof_settings(1500)
@given(value=st.dates(), process_zone=st.sampled_from(ZONES))
def test_dates_match_redis_om_1_2_in_any_process_zone(proof_models, value, process_zone):
    _stamp, day, client = proof_models
    with process_timezone(process_zone):
        saved = save_and_read(day, client, "on", value)
    assert_matches(saved, value, FieldKind.DATE, process_zone)
