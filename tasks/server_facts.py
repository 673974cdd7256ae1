"""Facts about the user's Redis that decide whether and how we may run (read-only)."""

from __future__ import annotations

import redis
from pydantic import BaseModel

from om_runbook.migrations.errors import RedisAccessError
from om_runbook.migrations.rdb_tools import ServerModule
from om_runbook.tasks.redis_io.redis_nodes import RedisNodes


class ServerFacts(BaseModel):
    redis_version: str
    role: str
    cluster_enabled: bool
    modules: list[str] | None  # None: the server would not say (ACL)
    used_memory: int
    maxmemory: int
    rdb_enabled: bool | None  # None: CONFIG refused
    aof_enabled: bool
    total_keys: int
    keys_with_ttl: int = 0  # INFO keyspace `expires`: these may expire between the snapshot and its restore test
    masters: int = 1  # a cluster's masters; the other facts are their combination (see combine_facts)
    used_memory_all_masters: int = 0  # what a full snapshot of every master takes (0: a single server)

    @property
    def has_search(self) -> bool:
        return bool(self.modules) and "search" in {m.lower() for m in self.modules or []}

    @property
    def has_json(self) -> bool:
        return bool(self.modules) and "rejson" in {m.lower() for m in self.modules or []}

    @property
    def snapshot_bytes_estimate(self) -> int:
        """What a full RDB snapshot of every master takes, about."""
        return self.used_memory_all_masters or self.used_memory

    @property
    def memory_used_share(self) -> float | None:
        return self.used_memory / self.maxmemory if self.maxmemory else None


def _info(client: redis.Redis, section: str) -> dict:
    try:
        return client.info(section)
    except redis.ResponseError as exc:
        raise RedisAccessError(f"INFO {section} was refused ({exc}); the migration user needs INFO") from None


def server_modules(client: redis.Redis) -> list[ServerModule] | None:
    """MODULE LIST: each loaded module's name, path (empty when built in) and arguments; None when refused."""
    try:
        entries = client.module_list()
    except redis.ResponseError:
        return None

    def text(value: object) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    modules = []
    for entry in entries:
        fields = {text(name): value for name, value in entry.items()}
        args = tuple(text(arg) for arg in fields.get("args") or ())
        modules.append(ServerModule(text(fields.get("name", "")), text(fields.get("path", "")), args))
    return modules


def _rdb_saves(client: redis.Redis) -> bool | None:
    try:
        return client.config_get("save").get(b"save", b"") not in (b"", "")
    except redis.ResponseError:
        return None


def read_server_facts(client: redis.Redis) -> ServerFacts:
    server, memory = _info(client, "server"), _info(client, "memory")
    persistence, replication = _info(client, "persistence"), _info(client, "replication")
    keyspace = _info(client, "keyspace")
    cluster = _info(client, "cluster")
    loaded = server_modules(client)
    return ServerFacts(
        redis_version=str(server.get("redis_version", "?")),
        role=str(replication.get("role", "?")),
        cluster_enabled=bool(cluster.get("cluster_enabled", 0)),
        modules=None if loaded is None else [module.name for module in loaded],
        used_memory=int(memory.get("used_memory", 0)),
        maxmemory=int(memory.get("maxmemory", 0)),
        rdb_enabled=_rdb_saves(client),
        aof_enabled=bool(persistence.get("aof_enabled", 0)),
        total_keys=sum(int(db.get("keys", 0)) for db in keyspace.values() if isinstance(db, dict)),
        keys_with_ttl=sum(int(db.get("expires", 0)) for db in keyspace.values() if isinstance(db, dict)),
    )


def combine_facts(each: list[ServerFacts]) -> ServerFacts:
    """A cluster's masters as one server: keys summed, memory of the fullest master, a capability only when every
    master has it (the weakest master decides what the run may assume)."""
    if len(each) == 1:
        return each[0]
    fullest = max(each, key=lambda facts: facts.memory_used_share or 0.0)
    rdb = [facts.rdb_enabled for facts in each]
    module_sets = [facts.modules for facts in each]
    return ServerFacts(
        redis_version=min((facts.redis_version for facts in each), key=_version_key),
        role=next((facts.role for facts in each if facts.role != "master"), "master"),
        cluster_enabled=True,
        modules=None if None in module_sets else sorted(set.intersection(*(set(m or []) for m in module_sets))),
        used_memory=fullest.used_memory,
        maxmemory=fullest.maxmemory,
        rdb_enabled=None if None in rdb else all(rdb),
        aof_enabled=all(facts.aof_enabled for facts in each),
        total_keys=sum(facts.total_keys for facts in each),
        keys_with_ttl=sum(facts.keys_with_ttl for facts in each),
        masters=len(each),
        used_memory_all_masters=sum(facts.used_memory for facts in each),
    )


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


def read_nodes_facts(nodes: RedisNodes) -> ServerFacts:
    """The facts of the server, or of every master of a cluster combined."""
    return combine_facts([read_server_facts(client) for client in nodes.clients])


def require_writable_primary(facts: ServerFacts, safe_url: str) -> None:
    """Stop before any write when the server is a replica (writes would fail half-way)."""
    if facts.role != "master":
        raise RedisAccessError(f"Redis at {safe_url} is a read-only {facts.role}; point --redis-url at the primary")
