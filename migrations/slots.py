"""Key-range chunks as Redis Cluster hash-slot ranges, so one plan serves a single server and a cluster."""

from __future__ import annotations

import binascii
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

SLOT_COUNT = 16384


def crc16(data: bytes) -> int:
    """CRC16/XMODEM, the checksum Redis Cluster uses for key slots (binascii's C implementation)."""
    return binascii.crc_hqx(data, 0)


def key_slot(key: bytes) -> int:
    """The cluster hash slot of a key, honouring `{hash tags}` as Redis does."""
    start = key.find(b"{")
    if start != -1:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return crc16(key) % SLOT_COUNT


@dataclass(frozen=True, slots=True)
class SlotRange:
    """Chunk `index` covers slots first..last inclusive."""

    index: int
    first: int
    last: int

    @property
    def label(self) -> str:
        return f"chunk-{self.index:04d}"

    def __contains__(self, slot: int) -> bool:
        return self.first <= slot <= self.last


def plan_slot_ranges(chunks: int, cuts: Sequence[int] = ()) -> list[SlotRange]:
    """Split the 16384 slots into `chunks` contiguous ranges of near-equal size, also cut where a range of
    `cuts` starts (a cluster master's first slot), so that no range spans two masters."""
    if not 1 <= chunks <= SLOT_COUNT:
        raise ValueError(f"chunks must be between 1 and {SLOT_COUNT}, got {chunks}")
    bounds = {round(i * SLOT_COUNT / chunks) for i in range(chunks + 1)} | {c for c in cuts if 0 < c < SLOT_COUNT}
    ordered = sorted(bounds)
    return [SlotRange(i, first, after - 1) for i, (first, after) in enumerate(itertools.pairwise(ordered))]


KEYS_PER_AUTO_CHUNK = 250_000
MAX_AUTO_CHUNKS = 64


def auto_chunk_count(keys: int) -> int:
    """Chunks sized so each subflow's fixed Prefect cost (0.2-2 s) stays small against its work (~5 s)."""
    return max(1, min(MAX_AUTO_CHUNKS, -(-keys // KEYS_PER_AUTO_CHUNK)))


def slot_to_chunk_table(ranges: list[SlotRange]) -> list[int]:
    """A 16384-entry lookup: slot -> index of the range holding it."""
    table = [-1] * SLOT_COUNT
    for chunk in ranges:
        table[chunk.first : chunk.last + 1] = [chunk.index] * (chunk.last - chunk.first + 1)
    if -1 in table:
        raise ValueError("slot ranges do not cover every slot")
    return table
