"""Which documents a redis-om 1.x search index can hold, and the verdict on what queries actually see (pure).

RediSearch leaves a whole document out of an index when one of its NUMERIC fields holds something that is not a
number: a legacy ISO string the migration could not convert, or a `''`. Such a document disappears from every
`find()`. Verification counts what queries see (`FT.SEARCH idx * LIMIT 0 0`; `hash_indexing_failures` is cumulative
and misleads) and names every document the index cannot hold; a shortfall without such a reason fails.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo

from om_runbook.migrations.backup_format import Problem
from om_runbook.migrations.codec import FieldKind, classify_value, describe_raw

_NUMBER = re.compile(rb"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf", re.IGNORECASE)


def numeric_fields(schema: str) -> tuple[str, ...]:
    """The NUMERIC attributes' identifiers in a redis-om schema (`... SCHEMA pk TAG ... at NUMERIC SORTABLE`)."""
    tokens = schema.split()
    if "SCHEMA" not in tokens:
        return ()
    tokens = tokens[tokens.index("SCHEMA") + 1 :]
    found = []
    for position, token in enumerate(tokens):
        if token == "NUMERIC" and position > 0:
            before = tokens[position - 1]
            is_alias = position >= 3 and tokens[position - 2] == "AS"
            found.append(tokens[position - 3] if is_alias else before)
    return tuple(found)


def sortable_fields(schema: str) -> tuple[str, ...]:
    """The NUMERIC attributes declared SORTABLE (redis-om refuses `sort_by` on any other field)."""
    tokens = schema.split()
    found = []
    for name in numeric_fields(schema):
        alias_or_name = name.rsplit(".", 1)[-1] if name.startswith("$") else name
        for position, token in enumerate(tokens[:-2]):
            if token == alias_or_name and tokens[position + 1] == "NUMERIC" and tokens[position + 2] == "SORTABLE":
                found.append(name)
    return tuple(found)


def holds_number(raw: bytes) -> bool:
    """What RediSearch's NUMERIC indexing accepts (strtod over the whole value)."""
    return _NUMBER.fullmatch(raw) is not None


def invisibility_reason(stored: Mapping[bytes, bytes], numeric: tuple[bytes, ...]) -> tuple[str, str] | None:
    """(field, reason) when a hash cannot be held by an index with these NUMERIC fields, else None."""
    for name in numeric:
        raw = stored.get(name)
        if raw is not None and not holds_number(raw):
            why = "empty string" if raw == b"" else f"{describe_raw(raw, 40)!r} is not a number"
            return name.decode("latin-1"), why
    return None


def range_cuts(originals: list[bytes], kind: FieldKind, zone: tzinfo, most: int = 3) -> tuple[float, ...]:
    """Cut points for range queries: the converted timestamps of sampled legacy values, spread from the smallest to
    the largest."""
    stamps = sorted({stamp for raw in originals if (stamp := classify_value(raw, kind, zone).timestamp) is not None})
    if len(stamps) <= most:
        return tuple(stamps)
    return tuple(stamps[round(i * (len(stamps) - 1) / (most - 1))] for i in range(most))


@dataclass
class RangeTally:
    """For one indexed datetime field: how many visible documents hold a value at or after each cut point, and the
    smallest value, counted from the stored values; the model's range queries and sort must answer the same."""

    field: str  # the model's attribute, for its queries
    cuts: tuple[float, ...]
    sortable: bool = False
    stored_as: bytes = b""  # where the stored value is (the hash field, or the JSON path); default: the field name
    at_or_after: list[int] = field(default_factory=list)
    smallest: float | None = None

    def __post_init__(self) -> None:
        self.at_or_after = [0] * len(self.cuts)
        self.stored_as = self.stored_as or self.field.encode()

    def add(self, raw: bytes | None) -> None:
        if raw is None:
            return
        value = float(raw)
        self.smallest = value if self.smallest is None else min(self.smallest, value)
        for position, cut in enumerate(self.cuts):
            if value >= cut:
                self.at_or_after[position] += 1


@dataclass
class IndexTally:
    """One index's documents (hashes under its prefix) met by the verification's rescan, and those it cannot hold."""

    index_name: str
    numeric: tuple[bytes, ...]
    documents: int = 0
    invisible: int = 0
    examples: list[Problem] = field(default_factory=list)
    ranges: list[RangeTally] = field(default_factory=list)

    def add(self, key: bytes, stored: Mapping[bytes, bytes], limit: int) -> None:
        self.documents += 1
        reason = invisibility_reason(stored, self.numeric)
        if reason is None:
            for tally in self.ranges:
                tally.add(stored.get(tally.stored_as))
            return
        self.invisible += 1
        if len(self.examples) < limit:
            name, why = reason
            self.examples.append(
                Problem(
                    kind="invisible_to_queries",
                    key=describe_raw(key),
                    field=name,
                    message=f"invisible to queries of {self.index_name}: {describe_raw(key)} ({name}: {why})",
                )
            )


@dataclass(frozen=True)
class IndexVerdict:
    index_name: str
    documents: int
    invisible: int
    visible: int

    @property
    def expected_visible(self) -> int:
        return self.documents - self.invisible

    @property
    def unexplained_shortfall(self) -> int:
        """Documents missing from queries with no reason found: each one fails the verification."""
        return max(self.expected_visible - self.visible, 0)

    def line(self) -> str:
        text = (
            f"{self.index_name}: {self.visible:,} of {self.documents:,} documents visible to queries, "
            f"{self.invisible:,} invisible with a reason"
        )
        if self.unexplained_shortfall:
            return text + f"; {self.unexplained_shortfall:,} MISSING WITHOUT A REASON"
        if self.visible > self.expected_visible:
            return text + f"; {self.visible - self.expected_visible:,} more than counted (written meanwhile)"
        return text
