"""Reading the facts about the user's Redis (INFO, CONFIG GET, MODULE LIST) that decide whether and how we may run;
migrations/server_facts.py judges them."""

from __future__ import annotations

import redis

from om_runbook.migrations.errors import ConfigurationError, RedisAccessError, ServerBusy
from om_runbook.migrations.rdb_tools import ServerModule
from om_runbook.migrations.server_facts import ServerFacts, combine_facts
from om_runbook.migrations.server_identity import ServerIdentity, identity_refusal
from om_runbook.tasks.io.redis_nodes import RedisNodes
from om_runbook.tasks.io.resp import is_busy_reply


def _info(client: redis.Redis, section: str) -> dict:
    try:
        return client.info(section)
    except redis.ResponseError as exc:
        if is_busy_reply(exc):  # a slow script holds the server: a stall to wait out, not a refusal
            raise ServerBusy(f"Redis is busy and takes no command for now ({exc})") from None
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


def _replicas_missing(client: redis.Redis, replication: dict) -> int:
    """How many more good replicas `min-replicas-to-write` asks for than there are (Redis then refuses every write
    with NOREPLICAS); 0 when it asks for none, or CONFIG is refused (the first write then says so)."""
    if "min_slaves_good_slaves" not in replication:
        return 0
    try:
        wanted = client.config_get("min-replicas-to-write")
    except redis.ResponseError:
        return 0
    needed = int(next(iter(wanted.values()), 0) or 0)
    return max(needed - int(replication["min_slaves_good_slaves"]), 0)


def _rdb_saves(client: redis.Redis) -> bool | None:
    try:
        return client.config_get("save").get(b"save", b"") not in (b"", "")
    except redis.ResponseError:
        return None


def read_redis_version(client: redis.Redis) -> str:
    """INFO's `redis_version` of one server ("?" when it names none)."""
    return str(_info(client, "server").get("redis_version", "?"))


def read_server_facts(client: redis.Redis) -> ServerFacts:
    server, memory = _info(client, "server"), _info(client, "memory")
    persistence, replication = _info(client, "persistence"), _info(client, "replication")
    keyspace = _info(client, "keyspace")
    cluster, stats = _info(client, "cluster"), _info(client, "stats")
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
        maxmemory_policy=str(memory.get("maxmemory_policy", "noeviction")),
        replicas_missing=_replicas_missing(client, replication),
        evicted_keys=int(stats.get("evicted_keys", 0)),
    )


def read_server_identity(nodes: RedisNodes) -> ServerIdentity:
    """The masters' run_ids and addresses, as the manifest records them."""
    run_ids, addresses = [], []
    for client in nodes.clients:
        run_ids.append(str(_info(client, "server").get("run_id", "")))
        options = client.connection_pool.connection_kwargs
        addresses.append(str(options.get("path") or f"{options.get('host', '?')}:{options.get('port', '?')}"))
    return ServerIdentity(run_ids=sorted(filter(None, run_ids)), addresses=sorted(addresses))


def require_same_server(
    nodes: RedisNodes, recorded: ServerIdentity | None, backup_dir: str, other_server: bool
) -> None:
    """Refuse (before any write) a server other than the one the backup was taken from, unless `other_server`."""
    refusal = identity_refusal(recorded, read_server_identity(nodes), backup_dir)
    if refusal and not other_server:
        raise ConfigurationError(refusal)


def read_maxmemory_policy(nodes: RedisNodes) -> str:
    """INFO memory `maxmemory_policy` of the first master that may evict, else "noeviction"."""
    for client in nodes.clients:
        memory = _info(client, "memory")
        if int(memory.get("maxmemory", 0)) and memory.get("maxmemory_policy", "noeviction") != "noeviction":
            return str(memory["maxmemory_policy"])
    return "noeviction"


def read_evicted_keys(nodes: RedisNodes) -> int:
    """INFO stats `evicted_keys`, summed over the masters."""
    return sum(int(_info(client, "stats").get("evicted_keys", 0)) for client in nodes.clients)


def read_nodes_facts(nodes: RedisNodes) -> ServerFacts:
    """The facts of the server, or of every master of a cluster combined."""
    return combine_facts([read_server_facts(client) for client in nodes.clients])
