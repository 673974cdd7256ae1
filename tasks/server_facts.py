"""Facts about the user's Redis that decide whether and how we may run (read-only)."""

from __future__ import annotations

import redis
from pydantic import BaseModel

from migrations.errors import RedisAccessError


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

    @property
    def has_search(self) -> bool:
        return bool(self.modules) and "search" in {m.lower() for m in self.modules or []}

    @property
    def has_json(self) -> bool:
        return bool(self.modules) and "rejson" in {m.lower() for m in self.modules or []}

    @property
    def memory_used_share(self) -> float | None:
        return self.used_memory / self.maxmemory if self.maxmemory else None


def _info(client: redis.Redis, section: str) -> dict:
    try:
        return client.info(section)
    except redis.ResponseError as exc:
        raise RedisAccessError(f"INFO {section} was refused ({exc}); the migration user needs INFO") from None


def _modules(client: redis.Redis) -> list[str] | None:
    try:
        entries = client.module_list()
    except redis.ResponseError:
        return None
    names = []
    for entry in entries:
        name = entry.get(b"name", entry.get("name", b""))
        names.append(name.decode() if isinstance(name, bytes) else str(name))
    return names


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
    return ServerFacts(
        redis_version=str(server.get("redis_version", "?")),
        role=str(replication.get("role", "?")),
        cluster_enabled=bool(cluster.get("cluster_enabled", 0)),
        modules=_modules(client),
        used_memory=int(memory.get("used_memory", 0)),
        maxmemory=int(memory.get("maxmemory", 0)),
        rdb_enabled=_rdb_saves(client),
        aof_enabled=bool(persistence.get("aof_enabled", 0)),
        total_keys=sum(int(db.get("keys", 0)) for db in keyspace.values() if isinstance(db, dict)),
    )


def require_writable_primary(facts: ServerFacts, safe_url: str) -> None:
    """Stop before any write when the server is a replica (writes would fail half-way)."""
    if facts.role != "master":
        raise RedisAccessError(f"Redis at {safe_url} is a read-only {facts.role}; point --redis-url at the primary")
