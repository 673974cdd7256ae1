"""Classify stored datetime values and convert redis-om 0.x ISO strings to what redis-om 1.x writes.

redis-om 1.x stores `value.timestamp()` and redis-py encodes floats with `repr`. CPython computes that
float two ways, and they can differ in the last bit, so both are reproduced exactly:
- aware values: `(value - epoch)` in whole microseconds, divided by 10**6 (correctly rounded);
- naive values: whole local seconds (the writer's local zone, fold=0) plus `microsecond / 1e6`.
A date is stored as its UTC midnight.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from enum import Enum
from typing import NamedTuple

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MICROSECOND = timedelta(microseconds=1)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MICROS = 1_000_000
# The instants redis-om 1.x can read back (years 1-9999 in UTC), in microseconds from the epoch.
_FIRST_MICROS = (datetime.min.replace(tzinfo=timezone.utc) - EPOCH) // _ONE_MICROSECOND
_LAST_MICROS = (datetime.max.replace(tzinfo=timezone.utc) - EPOCH) // _ONE_MICROSECOND

_ISO_DATE = re.compile(rb"(\d{4})-(\d{2})-(\d{2})")
_ISO_TIME = re.compile(
    rb"[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?"
    rb"(Z|[+-]\d{2}:?\d{2}(?::?\d{2}(?:\.\d{1,6})?)?)?"
)
_NUMBER = re.compile(rb"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_OFFSET = re.compile(rb"([+-])(\d{2}):?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?")


class FieldKind(str, Enum):
    """The Python type of a model field, as redis-om 1.x sees it."""

    DATETIME = "datetime"
    DATE = "date"


class ValueClass(str, Enum):
    """What a stored value is, for counting and for deciding whether to change it."""

    LEGACY_NAIVE = "legacy_naive_datetime"
    LEGACY_AWARE = "legacy_aware_datetime"
    LEGACY_DATE = "legacy_date"
    CONVERTED = "already_converted"
    EMPTY = "empty"
    EMPTY_FOR_NONE = "legacy_empty_for_none"  # '' in an Optional hash field: what redis-om 0.2.x wrote for None
    MISSING = "missing"
    UNPARSEABLE = "unparseable"


LEGACY_CLASSES = frozenset({ValueClass.LEGACY_NAIVE, ValueClass.LEGACY_AWARE, ValueClass.LEGACY_DATE})


class Classification(NamedTuple):
    """One stored value: its class, the timestamp redis-om 1.x would write, or why it cannot be read."""

    value_class: ValueClass
    timestamp: float | None = None
    reason: str | None = None

    @property
    def is_legacy(self) -> bool:
        return self.value_class in LEGACY_CLASSES


_EMPTY = Classification(ValueClass.EMPTY)
_MISSING = Classification(ValueClass.MISSING)
_CONVERTED = Classification(ValueClass.CONVERTED)


def _unparseable(reason: str) -> Classification:
    return Classification(ValueClass.UNPARSEABLE, reason=reason)


def encode_timestamp(timestamp: float) -> bytes:
    """The bytes redis-py writes for a float (its encoder uses repr)."""
    return repr(timestamp).encode()


def date_timestamp(value: date) -> float:
    """redis-om 1.x stores a date as its UTC midnight."""
    return float((value.toordinal() - _EPOCH_ORDINAL) * 86400)


def _fraction_to_micro(fraction: bytes | None) -> int:
    return int(fraction.ljust(6, b"0")) if fraction else 0


def _parse_offset(text: bytes) -> timezone:
    if text == b"Z":
        return timezone.utc
    match = _OFFSET.fullmatch(text)
    if match is None:
        raise ValueError(f"bad UTC offset {text.decode()!r}")
    sign, hours, minutes, seconds, fraction = match.groups()
    delta = timedelta(
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds or 0),
        microseconds=_fraction_to_micro(fraction),
    )
    return timezone(-delta if sign == b"-" else delta)


def parse_legacy(raw: bytes) -> date | datetime:
    """Parse an ISO 8601 string as redis-om 0.x wrote it (`isoformat()`, or pydantic's `...Z`)."""
    date_match = _ISO_DATE.match(raw)
    if date_match is None:
        raise ValueError("not an ISO 8601 date or datetime")
    year, month, day = (int(part) for part in date_match.groups())
    day_value = date(year, month, day)
    if date_match.end() == len(raw):
        return day_value
    time_match = _ISO_TIME.fullmatch(raw, date_match.end())
    if time_match is None:
        raise ValueError("not an ISO 8601 date or datetime")
    hour, minute, second, fraction, offset = time_match.groups()
    zone = _parse_offset(offset) if offset else None
    return datetime(year, month, day, int(hour), int(minute), int(second or 0), _fraction_to_micro(fraction), zone)


def read_back(timestamp: float) -> datetime | None:
    """The instant redis-om 1.x reads from a stored timestamp (`fromtimestamp(ts, UTC)`), or None where that fails:
    redis-om then hands the raw number to pydantic, which takes it for milliseconds (a wrong instant)."""
    try:
        return datetime.fromtimestamp(timestamp, timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None


def _reads_back_as(timestamp: float, micros: int) -> bool:
    """`read_back(timestamp)` is the instant `micros` (from the epoch, within years 1-9999), computed as CPython's
    fromtimestamp() does: the fraction of a second times 10**6, rounded half to even (the carry it then applies
    leaves the sum unchanged)."""
    fraction, whole = math.modf(timestamp)
    return int(whole) * _MICROS + round(fraction * 1e6) == micros


def _classify_parsed(parsed: date | datetime, kind: FieldKind, naive_zone: tzinfo) -> Classification:
    if not isinstance(parsed, datetime):
        if kind is FieldKind.DATE:
            return Classification(ValueClass.LEGACY_DATE, date_timestamp(parsed))
        # A 1.x model turns a date-only string in a datetime field into a naive midnight.
        parsed = datetime(parsed.year, parsed.month, parsed.day)
    elif kind is FieldKind.DATE:
        if parsed.hour or parsed.minute or parsed.second or parsed.microsecond:
            return _unparseable("a datetime with a time of day in a date field")
        return Classification(ValueClass.LEGACY_DATE, date_timestamp(parsed))

    # In whole microseconds, as CPython's datetime arithmetic computes them (the two ways in the module docstring).
    wall_seconds = (
        (parsed.toordinal() - _EPOCH_ORDINAL) * 86400 + parsed.hour * 3600 + parsed.minute * 60 + parsed.second
    )
    if parsed.tzinfo is None:
        # the naive value read in `naive_zone` (its fold is 0: parsed values always carry fold=0)
        offset_micros = naive_zone.utcoffset(parsed) // _ONE_MICROSECOND
        timestamp = float((wall_seconds * _MICROS - offset_micros) // _MICROS) + parsed.microsecond / 1e6
        value_class = ValueClass.LEGACY_NAIVE
    else:
        offset_micros = parsed.utcoffset() // _ONE_MICROSECOND
        timestamp = None
        value_class = ValueClass.LEGACY_AWARE
    instant = wall_seconds * _MICROS + parsed.microsecond - offset_micros
    # Accept only a timestamp redis-om 1.x reads back as the same instant: outside years 1-9999 (UTC) its
    # fromtimestamp() fails, and far from 1970 a float cannot hold every microsecond.
    if not _FIRST_MICROS <= instant <= _LAST_MICROS:
        return _unparseable("the instant falls outside years 1-9999 in UTC, which redis-om 1.x cannot read")
    if timestamp is None:
        timestamp = instant / _MICROS
    if not _reads_back_as(timestamp, instant):
        return _unparseable(
            f"its timestamp {timestamp!r} does not read back as the same instant in redis-om 1.x (float precision "
            "or the end of year 9999)"
        )
    return Classification(value_class, timestamp)


def _isoformat_value(raw: bytes) -> date | datetime | None:
    """The value, when `raw` is exactly Python's isoformat() of it (what redis-om 0.x HashModels wrote; pydantic's
    `Z` for UTC in JSON documents): the common case, parsed in C. Any other text gets None (see parse_legacy)."""
    try:
        text = raw.decode("ascii")
        value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:  # UnicodeDecodeError included
        return None
    written = value.isoformat()
    if written == text or (text[-1] == "Z" and written[-6:] == "+00:00" and written[:-6] == text[:-1]):
        return value
    return None


def classify_value(raw: bytes | None, kind: FieldKind, naive_zone: tzinfo) -> Classification:
    """Classify one stored field value; legacy values carry the timestamp redis-om 1.x would write."""
    if raw is None:
        return _MISSING
    if not raw:
        return _EMPTY
    parsed = _isoformat_value(raw)
    if parsed is not None:
        return _classify_parsed(parsed, kind, naive_zone)
    if _NUMBER.fullmatch(raw):
        if read_back(float(raw)) is not None:
            return _CONVERTED
        return _unparseable("a number outside the range of datetimes (years 1 to 9999)")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return _unparseable("not UTF-8 text (binary data)")
    if raw != raw.strip():
        return _unparseable("leading or trailing whitespace")
    try:
        parsed = parse_legacy(raw)
    except ValueError as exc:
        return _unparseable(str(exc))
    return _classify_parsed(parsed, kind, naive_zone)


def expected_value(raw: bytes, kind: FieldKind, naive_zone: tzinfo) -> date | datetime:
    """What redis-om 1.x should load for a legacy value we converted: the day for a date field, else the instant (a
    date-only string in a datetime field is a naive midnight; naive values are read in `naive_zone`, fold=0)."""
    parsed = parse_legacy(raw)
    if kind is FieldKind.DATE:
        return parsed.date() if isinstance(parsed, datetime) else parsed
    if not isinstance(parsed, datetime):
        parsed = datetime(parsed.year, parsed.month, parsed.day)
    return parsed.replace(tzinfo=naive_zone, fold=0) if parsed.tzinfo is None else parsed


def same_instant(loaded: object, expected: date | datetime) -> bool:
    """A value read through redis-om 1.x against the expected one: the same day, or the same instant. Aware datetimes
    are compared in UTC: under PEP 495 a time in a repeated hour never equals a time in another zone."""
    if isinstance(expected, datetime):
        if not isinstance(loaded, datetime) or loaded.tzinfo is None or expected.tzinfo is None:
            return False
        return loaded.astimezone(timezone.utc) == expected.astimezone(timezone.utc)
    return type(loaded) is date and loaded == expected


def describe_raw(raw: bytes, limit: int = 80) -> str:
    """A short printable form of a stored value for reports (binary shown escaped, long values cut)."""
    text = repr(raw[:limit])[2:-1]
    return text + ("..." if len(raw) > limit else "")
