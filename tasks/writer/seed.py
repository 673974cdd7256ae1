"""Write legacy (redis-om 0.x format) records into a Redis, pipelined."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from om_runbook.migrations.errors import RedisAccessError
from om_runbook.migrations.sample_data import LegacyRecord
from om_runbook.tasks.io.progress_meter import METER
from om_runbook.tasks.io.redis_nodes import RedisNodes
from om_runbook.tasks.io.resp import encode_command, run_encoded


def _write_batch(nodes: RedisNodes, keys: list[bytes], batch: list[bytes]) -> None:
    for client, positions in nodes.split(keys):
        for reply in run_encoded(client, b"".join(batch[p] for p in positions), len(positions)):
            if isinstance(reply, Exception):
                raise RedisAccessError(f"seeding failed: {reply}")
    METER.advance(len(batch))
    keys.clear()
    batch.clear()


@dataclass
class SeedSummary:
    records: int = 0
    dirty: int = 0
    per_prefix: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def write_legacy_records(nodes: RedisNodes, records: Iterable[LegacyRecord], batch_size: int = 2000) -> SeedSummary:
    """HSET every record (on the master owning it), `batch_size` records per pipeline round trip."""
    summary = SeedSummary()
    started = time.perf_counter()
    keys: list[bytes] = []
    batch: list[bytes] = []
    for record in records:
        keys.append(record.key)
        batch.append(encode_command([b"HSET", record.key, *(x for pair in record.fields.items() for x in pair)]))
        summary.records += 1
        summary.dirty += record.dirty
        summary.per_prefix[record.key.rsplit(b":", 1)[0].decode() + ":"] += 1
        if len(batch) >= batch_size:
            _write_batch(nodes, keys, batch)
    if batch:
        _write_batch(nodes, keys, batch)
    summary.seconds = time.perf_counter() - started
    return summary


def drop_keys_under(nodes: RedisNodes, prefixes: Iterable[str], batch_size: int = 2000) -> int:
    """Delete every key under `prefixes`: the rehearsal's own data on its own server, to prove the snapshot restore
    brings it all back. Never called on a server the rehearsal did not seed or empty."""
    from om_runbook.tasks.backup_store.snapshot_restore import delete_keys
    from om_runbook.tasks.readers.keyspace import scan_key_batches

    return sum(
        delete_keys(nodes, keys)
        for prefix in prefixes
        for client in nodes.clients
        for keys in scan_key_batches(client, prefix, batch_size)
    )
