"""Fingerprint every key of a (throwaway or staging) Redis, to prove a rollback put back every byte."""

from __future__ import annotations

import redis
from prefect import task
from prefect.cache_policies import NONE
from pydantic import SecretStr

from om_runbook.migrations.fingerprint import hash_fingerprint, other_fingerprint
from om_runbook.tasks.io.progress_meter import METER
from om_runbook.tasks.io.redis_nodes import RedisNodes, open_nodes
from om_runbook.tasks.io.retry_policy import IO_TASK_OPTIONS
from om_runbook.tasks.readers.keyspace import keys_in_database, read_hashes, scan_key_batches


def keyspace_fingerprint(nodes: RedisNodes, batch_size: int = 1000) -> dict[bytes, bytes]:
    """Key -> digest of its content (every master's keys): hashes by field/value (order-free), other types by
    DUMP, type and TTL."""
    fingerprints: dict[bytes, bytes] = {}
    METER.begin("fingerprint every key", keys_in_database(nodes))
    for client in nodes.clients:
        fingerprints |= _fingerprints_on(client, batch_size)
    return fingerprints


def _fingerprints_on(client: redis.Redis, batch_size: int) -> dict[bytes, bytes]:
    fingerprints: dict[bytes, bytes] = {}
    for keys in scan_key_batches(client, "", batch_size):
        for key, reply in zip(keys, read_hashes(client, keys), strict=True):
            if isinstance(reply, dict):
                fingerprints[key] = hash_fingerprint(reply)
            else:
                kind = client.type(key)
                fingerprints[key] = other_fingerprint(kind, client.dump(key), client.pttl(key) > 0)
        METER.advance(len(keys))
    return fingerprints


@task(name="fingerprint-keyspace", cache_policy=NONE, **IO_TASK_OPTIONS)
def fingerprint_task(redis_url: SecretStr) -> dict[bytes, bytes]:
    return keyspace_fingerprint(open_nodes(redis_url.get_secret_value()))
