from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from om_runbook.migrations.slots import SLOT_COUNT, key_slot, plan_slot_ranges, slot_to_chunk_table


@pytest.mark.parametrize(
    ("key", "slot"),
    # Values from `CLUSTER KEYSLOT` (Redis documentation and redis-server 7).
    [(b"foo", 12182), (b"bar", 5061), (b"{user1000}.following", 3443), (b"{user1000}.followers", 3443),
     (b"foo{}{bar}", 8363), (b"foo{{bar}}zap", 4015), (b"", 0)],
)  # fmt: skip
def test_key_slot_matches_redis_cluster(key, slot):
    assert key_slot(key) == slot


@given(st.integers(1, 512))
def test_plan_covers_every_slot_once_in_order(chunks):
    ranges = plan_slot_ranges(chunks)
    assert len(ranges) == chunks
    assert ranges[0].first == 0 and ranges[-1].last == SLOT_COUNT - 1
    for before, after in zip(ranges, ranges[1:], strict=False):
        assert after.first == before.last + 1 and before.first <= before.last
    table = slot_to_chunk_table(ranges)
    assert all(table[slot] == chunk.index for chunk in ranges for slot in (chunk.first, chunk.last))


def test_plan_rejects_impossible_chunk_counts():
    for bad in (0, SLOT_COUNT + 1):
        with pytest.raises(ValueError, match="chunks must be between"):
            plan_slot_ranges(bad)
