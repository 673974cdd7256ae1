"""Reading the user's keys: SCAN by model prefix, pipelined HGETALL for hashes and JSON.GET for JSON documents
(read-only helpers)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TypeVar

import redis
from redis.exceptions import ResponseError

from om_runbook.tasks.io.redis_nodes import RedisNodes
from om_runbook.tasks.io.resp import encode_command, run_encoded

_GLOB_SPECIAL = re.compile(rb"([*?\[\]\\])")

HashReply = dict[bytes, bytes] | ResponseError
DocumentReply = bytes | None | ResponseError  # the document's JSON text; None when the key is gone
Reply = TypeVar("Reply")


def glob_escape(prefix: bytes) -> bytes:
    """Escape SCAN MATCH wildcards so a prefix matches only itself."""
    return _GLOB_SPECIAL.sub(rb"\\\1", prefix)


def prefix_pattern(prefix: str) -> bytes:
    """The SCAN MATCH pattern of the keys starting with `prefix`, and only those."""
    return glob_escape(prefix.encode()) + b"*"


def keys_under(client: redis.Redis, prefix: str, count: int = 1000) -> Iterator[bytes]:
    """Every key starting with `prefix` (SCAN MATCH, `count` per call; SCAN may repeat a key)."""
    return client.scan_iter(match=prefix_pattern(prefix), count=count)


def scan_key_batches(client: redis.Redis, prefix: str, batch_size: int) -> Iterator[list[bytes]]:
    """Every key starting with `prefix`, in batches (SCAN may repeat a key; callers tolerate that)."""
    batch: list[bytes] = []
    for key in keys_under(client, prefix, max(batch_size, 100)):
        batch.append(key)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def keys_in_database(nodes: RedisNodes) -> int:
    """DBSIZE over every master: the most keys a scan of this database can meet (its progress total)."""
    return sum(int(client.dbsize()) for client in nodes.clients)


def read_hashes(client: redis.Redis, keys: list[bytes]) -> list[HashReply]:
    """HGETALL for each key in one round trip; a missing key gives {}, a non-hash key a ResponseError."""
    payload = b"".join(encode_command((b"HGETALL", key)) for key in keys)
    replies = run_encoded(client, payload, len(keys))
    return [_as_hash(reply) for reply in replies]


def read_hashes_on(nodes: RedisNodes, keys: list[bytes]) -> list[HashReply]:
    """`read_hashes` with each key read from the master owning it: one round trip per master."""
    return _read_on(nodes, keys, read_hashes)


def read_documents(client: redis.Redis, keys: list[bytes]) -> list[DocumentReply]:
    """JSON.GET (the whole document, compact) for each key in one round trip."""
    payload = b"".join(encode_command((b"JSON.GET", key)) for key in keys)
    return run_encoded(client, payload, len(keys))


def read_documents_on(nodes: RedisNodes, keys: list[bytes]) -> list[DocumentReply]:
    """`read_documents` with each key read from the master owning it: one round trip per master."""
    return _read_on(nodes, keys, read_documents)


def _read_on(
    nodes: RedisNodes, keys: list[bytes], read: Callable[[redis.Redis, list[bytes]], list[Reply]]
) -> list[Reply]:
    if not nodes.is_cluster:
        return read(nodes.nodes[0].client, keys)
    replies: list[Reply] = [None] * len(keys)  # every position is filled below
    for client, positions in nodes.split(keys):
        for position, reply in zip(positions, read(client, [keys[p] for p in positions]), strict=True):
            replies[position] = reply
    return replies


def _as_hash(reply: object) -> HashReply:
    """RESP3 (redis-py 8's default) answers HGETALL with a map, RESP2 with a flat list."""
    if isinstance(reply, ResponseError | dict):
        return reply
    return dict(zip(reply[::2], reply[1::2], strict=True))


def key_type(client: redis.Redis, key: bytes) -> str:
    return client.type(key).decode()
