"""What the facts about a user's Redis say (pure): its release and capabilities, a cluster's masters combined, and
whether it may be written to. tasks/readers/server_facts.py reads them."""

from __future__ import annotations

from pydantic import BaseModel

from om_runbook.migrations.errors import RedisAccessError

Version = tuple[int, int, int]
FIELD_TTL_SINCE: Version = (7, 4, 0)  # hash fields may have their own TTL from Redis 7.4


def parse_release(text: str) -> Version | None:
    """INFO's `redis_version` ("8.2.3") as a tuple; None when it is not one."""
    parts = text.split(".")
    if len(parts) < 2 or not all(part.isdigit() for part in parts[:3]):
        return None
    return (int(parts[0]), int(parts[1]), int(parts[2]) if len(parts) > 2 else 0)


def supports_field_ttl(redis_version: str) -> bool:
    release = parse_release(redis_version)
    return release is not None and release >= FIELD_TTL_SINCE


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
    maxmemory_policy: str = "noeviction"  # INFO memory; of a cluster: a master's that may evict, if any
    evicted_keys: int = 0  # INFO stats, summed over the masters: a rise during a run is data loss
    replicas_missing: int = 0  # good replicas min-replicas-to-write wants beyond those connected (the worst master)

    @property
    def persistence_text(self) -> str:
        """'RDB saves on, AOF off', as the checklist documents it."""
        rdb = {True: "on", False: "off", None: "unknown (CONFIG refused)"}[self.rdb_enabled]
        return f"RDB saves {rdb}, AOF {'on' if self.aof_enabled else 'off'}"

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
    def release(self) -> Version | None:
        return parse_release(self.redis_version)

    @property
    def memory_used_share(self) -> float | None:
        return self.used_memory / self.maxmemory if self.maxmemory else None


def combine_facts(each: list[ServerFacts]) -> ServerFacts:
    """A cluster's masters as one server: keys summed, memory of the fullest master, a capability only when every
    master has it (the weakest master decides what the run may assume)."""
    if len(each) == 1:
        return each[0]
    fullest = max(each, key=lambda facts: facts.memory_used_share or 0.0)
    rdb = [facts.rdb_enabled for facts in each]
    module_sets = [facts.modules for facts in each]
    return ServerFacts(
        redis_version=min((facts.redis_version for facts in each), key=lambda text: parse_release(text) or (0, 0, 0)),
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
        maxmemory_policy=next(
            (facts.maxmemory_policy for facts in each if facts.maxmemory and facts.maxmemory_policy != "noeviction"),
            "noeviction",
        ),
        evicted_keys=sum(facts.evicted_keys for facts in each),
        replicas_missing=max(facts.replicas_missing for facts in each),
    )


def require_writable_primary(facts: ServerFacts, safe_url: str) -> None:
    """Stop before any write when the server is a replica (writes would fail half-way)."""
    if facts.role != "master":
        raise RedisAccessError(f"Redis at {safe_url} is a read-only {facts.role}; point --redis-url at the primary")
    if facts.replicas_missing:
        raise RedisAccessError(
            f"Redis at {safe_url} refuses every write (NOREPLICAS): min-replicas-to-write asks for "
            f"{facts.replicas_missing} more good replica(s) than are connected. Bring the replicas back (or lower "
            "min-replicas-to-write for the run); nothing was written"
        )
