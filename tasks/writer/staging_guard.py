"""Preparing a staging Redis for the rehearsal: the guard's facts, then FLUSHALL and the staging marker."""

from __future__ import annotations

from om_runbook.migrations.errors import ConfigurationError
from om_runbook.migrations.staging_guard import STAGING_MARKER_KEY, flush_refusal
from om_runbook.tasks.io.redis_nodes import open_nodes


def empty_staging(url: str, production_url: str | None) -> None:
    """FLUSHALL every master of `url` after the guard allows it (ConfigurationError otherwise, nothing changed);
    then mark each master as the rehearsal's own, so the next rehearsal may empty it again."""
    nodes = open_nodes(url)
    marker_home = nodes.node_for(STAGING_MARKER_KEY).client  # one marker for the whole server or cluster
    marked = bool(marker_home.exists(STAGING_MARKER_KEY))
    unmarked = {} if marked else {node.name: size for node in nodes.nodes if (size := node.client.dbsize())}
    refusal = flush_refusal(url, production_url, unmarked)
    if refusal:
        raise ConfigurationError(refusal)
    for client in nodes.clients:
        client.flushall()
    marker_home.set(STAGING_MARKER_KEY, b"emptied and seeded by om-runbook's rehearsal")
