"""The server facts that say whether staging mirrors production, read from either server; only reads (INFO, CONFIG
GET, MODULE LIST, SCAN, FT._LIST, FT.INFO): the staging rehearsal reads production through this module alone."""

from __future__ import annotations

import redis
from prefect import task
from prefect.cache_policies import NONE
from pydantic import SecretStr

from om_runbook.migrations.index_plan import create_args_from_info
from om_runbook.migrations.staging_mirror import MirrorFacts, mirror_facts
from om_runbook.tasks.io.redis_nodes import RedisNodes, open_nodes
from om_runbook.tasks.io.retry_policy import IO_TASK_OPTIONS
from om_runbook.tasks.readers.keyspace import keys_under
from om_runbook.tasks.readers.server_facts import read_nodes_facts


def count_keys_under(nodes: RedisNodes, prefixes: list[str]) -> dict[str, int]:
    """Keys under each prefix, over every master (SCAN MATCH, COUNT 1000; SCAN may return a key twice while the
    keyspace resizes, so a count is exact only on a quiet server)."""
    counts = dict.fromkeys(prefixes, 0)
    for client in nodes.clients:
        for prefix in prefixes:
            counts[prefix] += sum(1 for _ in keys_under(client, prefix))
    return counts


def index_definitions(client: redis.Redis) -> dict[str, str]:
    """Each search index with the FT.CREATE arguments that define it; none without the search module."""
    try:
        names = client.execute_command("FT._LIST")
    except redis.ResponseError:
        return {}
    found = {}
    for raw in names:
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            info = client.execute_command("FT.INFO", name)
        except redis.ResponseError:
            continue  # dropped meanwhile
        found[name] = " ".join(create_args_from_info(name, info)[2:])
    return found


def read_mirror_facts(url: str, prefixes: list[str]) -> MirrorFacts:
    nodes = open_nodes(url)
    return mirror_facts(read_nodes_facts(nodes), count_keys_under(nodes, prefixes), index_definitions(nodes.clients[0]))


@task(name="read-mirror-facts", cache_policy=NONE, **IO_TASK_OPTIONS)
def mirror_facts_task(redis_url: SecretStr, prefixes: list[str]) -> MirrorFacts:
    """The facts of one server (staging or production) for the staging-mirrors-production comparison."""
    return read_mirror_facts(redis_url.get_secret_value(), prefixes)
