"""Legacy records exactly as redis-om 0.x (0.3.5 HashModel) wrote them, for rehearsals, tests and benchmarks.

0.x stored `isoformat()` strings, omitted None fields and stored `pk` as a field. Dirty records carry one
value 0.x could never have written (unparseable, empty, whitespace, binary) in a datetime field.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from om_runbook.migrations.targets import key_prefix_of

DIRTY_VALUES: tuple[bytes, ...] = (
    b"not-a-date",
    b"2023-13-45T25:61:00",
    b"",
    b"  2023-12-01T14:30:22",
    b"\xff\xfe\x00binary\x80",
    b"31/12/2023",
)

_OFFSETS = tuple(timezone(timedelta(minutes=m)) for m in (0, 60, -300, 330, 345, -210, 765, -600, 120, 540))
_START = datetime(1995, 1, 1)
_SPAN_SECONDS = 35 * 365 * 86400


@dataclass(frozen=True, slots=True)
class LegacyRecord:
    key: bytes
    fields: dict[bytes, bytes]
    dirty: bool


def _pk(rng: random.Random) -> str:
    """A 26-character primary key in the ULID alphabet (hex digits are a subset of it)."""
    return rng.randbytes(13).hex().upper()


def _moment(rng: random.Random) -> datetime:
    bits = rng.getrandbits(52)
    seconds, micro = bits % _SPAN_SECONDS, (bits >> 31) % 1_000_000
    return _START + timedelta(seconds=seconds, microseconds=micro if bits & 1 else 0)


def _iso(value: date | datetime) -> bytes:
    return value.isoformat().encode()


def _customer(rng: random.Random, pk: str) -> dict[bytes, bytes]:
    fields = {
        b"pk": pk.encode(),
        b"name": f"customer {pk[:6]}".encode(),
        b"email": f"{pk.lower()}@example.com".encode(),
        b"signed_up": _iso(_moment(rng)),
    }
    if rng.random() < 0.7:
        fields[b"birthday"] = _iso(date(1940, 1, 1) + timedelta(days=rng.randrange(25000)))
    if rng.random() < 0.8:
        fields[b"last_login"] = _iso(_moment(rng))
    return fields


def _order(rng: random.Random, pk: str) -> dict[bytes, bytes]:
    placed = _moment(rng).replace(tzinfo=rng.choice(_OFFSETS))
    fields = {
        b"pk": pk.encode(),
        b"customer_pk": _pk(rng).encode(),
        b"total": repr(round(rng.uniform(1, 500), 2)).encode(),
        b"placed_at": _iso(placed),
    }
    if rng.random() < 0.6:
        fields[b"shipped_on"] = _iso(placed.date() + timedelta(days=rng.randrange(1, 6)))
    if rng.random() < 0.5:
        fields[b"delivered_at"] = _iso(placed + timedelta(hours=rng.randrange(24, 240)))
    return fields


_DIRTY_FIELDS = {"Customer": (b"signed_up", b"last_login"), "Order": (b"placed_at", b"shipped_on")}


def generate_legacy_records(count: int, dirty_share: float = 0.0, seed: int = 0) -> Iterator[LegacyRecord]:
    """`count` records alternating Customer/Order in 0.x format; about `dirty_share` of them dirty."""
    from om_runbook.migrations.sample_models import Customer, Order

    rng = random.Random(seed)
    models = ((Customer, _customer), (Order, _order))
    prefixes = [key_prefix_of(model).encode() for model, _ in models]
    for index in range(count):
        (model, build), prefix = models[index % 2], prefixes[index % 2]
        pk = _pk(rng)
        fields = build(rng, pk)
        dirty = dirty_share > 0 and rng.random() < dirty_share
        if dirty:
            fields[rng.choice(_DIRTY_FIELDS[model.__name__])] = rng.choice(DIRTY_VALUES)
        yield LegacyRecord(prefix + pk.encode(), fields, dirty)
