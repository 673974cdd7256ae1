"""The primaries behind a Redis URL: the one server, or every master of a Redis Cluster with the slots it owns.

Whole-keyspace work (SCAN, INFO, snapshots, permission checks) runs once per master; work on known keys
(reads and compare-and-set writes of a batch) goes to the master owning each key's slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import redis

from om_runbook.migrations.cluster_map import master_slot_ranges, node_url, slot_owner_table
from om_runbook.migrations.errors import RedisAccessError
from om_runbook.migrations.redaction import redact_url
from om_runbook.migrations.slots import key_slot
from om_runbook.tasks.io.redis_connection import open_client


@dataclass(frozen=True)
class RedisNode:
    url: str  # carries the password: never logged; `name` is what reports show
    name: str
    client: redis.Redis = field(compare=False)


@dataclass(frozen=True)
class RedisNodes:
    nodes: tuple[RedisNode, ...]
    owners: tuple[int, ...] | None = None  # slot -> index in `nodes`; None: a single server owns every key

    @property
    def is_cluster(self) -> bool:
        return self.owners is not None

    @property
    def clients(self) -> list[redis.Redis]:
        return [node.client for node in self.nodes]

    def node_of_slot(self, slot: int) -> RedisNode:
        return self.nodes[0] if self.owners is None else self.nodes[self.owners[slot]]

    def node_for(self, key: bytes) -> RedisNode:
        return self.node_of_slot(key_slot(key))

    def split(self, keys: Sequence[bytes]) -> list[tuple[redis.Redis, list[int]]]:
        """The keys' positions grouped by the master that owns them (one group on a single server)."""
        if self.owners is None:
            return [(self.nodes[0].client, list(range(len(keys))))]
        groups: dict[int, list[int]] = {}
        for position, key in enumerate(keys):
            groups.setdefault(self.owners[key_slot(key)], []).append(position)
        return [(self.nodes[index].client, positions) for index, positions in sorted(groups.items())]


def single_server(client: redis.Redis, url: str = "") -> RedisNodes:
    """A connected non-cluster server as the one master owning every key."""
    return RedisNodes((RedisNode(url, redact_url(url) if url else "server", client),))


def _cluster_enabled(client: redis.Redis) -> bool:
    try:
        return bool(client.info("cluster").get("cluster_enabled", 0))
    except redis.ResponseError:
        return False  # no INFO: the permission check names what is missing


def open_nodes(url: str) -> RedisNodes:
    """Connect to the server behind `url`, or, when it is a cluster node, to every master of its cluster."""
    client = open_client(url)
    if not _cluster_enabled(client):
        return single_server(client, url)
    try:
        reply = client.execute_command("CLUSTER", "SLOTS")
    except redis.ResponseError as exc:
        raise RedisAccessError(f"CLUSTER SLOTS was refused ({exc}); the migration user needs it") from None
    client.close()
    masters = master_slot_ranges(reply, urlsplit(url).hostname or "localhost")
    owners = slot_owner_table(list(masters.values()))
    nodes = []
    for host, port in masters:
        address = node_url(url, host, port)
        nodes.append(RedisNode(address, f"{host}:{port}", open_client(address)))
    return RedisNodes(tuple(nodes), owners)
