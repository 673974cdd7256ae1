"""Checking, before any write, that the Redis user may run every command the migration needs."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence

import redis
from prefect import task
from prefect.cache_policies import NONE
from redis.exceptions import NoScriptError, ResponseError

from om_runbook.migrations.errors import RedisAccessError
from om_runbook.migrations.permissions import (
    PROBE_KEY_SUFFIX,
    SNAPSHOT_COMMAND,
    NeededCommand,
    denial_message,
    needed_commands,
    restore_commands,
    search_commands,
)
from om_runbook.migrations.server_facts import supports_field_ttl
from om_runbook.migrations.unfinished_run import MARKER_KEY
from om_runbook.tasks.guards.lease import LEASE_KEY
from om_runbook.tasks.io.redis_connection import is_permission_error
from om_runbook.tasks.io.redis_nodes import RedisNodes, open_nodes
from om_runbook.tasks.io.resp import encode_command, run_encoded
from om_runbook.tasks.readers.server_facts import read_redis_version, server_modules
from om_runbook.tasks.writer.cas import CAS_SCRIPT


def _user(client: redis.Redis) -> str:
    try:
        reply = client.execute_command("ACL", "WHOAMI")
    except ResponseError:  # ACL denied: the user the connection authenticated as
        return client.connection_pool.connection_kwargs.get("username") or "default"
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def _dryrun_denials(client: redis.Redis, user: str, commands: list[NeededCommand]) -> list[tuple[NeededCommand, str]]:
    denials = []
    for command in commands:
        try:
            reply = client.execute_command("ACL", "DRYRUN", user, *command.args)
        except ResponseError as exc:
            if "not found" not in str(exc).lower():
                raise  # ACL itself refused or unknown: the caller falls back to probes
            reply = str(exc)  # "Command 'SYNC' not found": renamed or disabled on this server
        text = reply.decode() if isinstance(reply, bytes) else str(reply)
        if text != "OK":
            denials.append((command, text))
    return denials


def _probe_denials(client: redis.Redis, key_prefixes: list[str]) -> list[tuple[NeededCommand, str]]:
    """Run the read-only commands for real; the CAS probe names a key that does not exist, so it reads only."""
    probes: list[tuple[NeededCommand, tuple[object, ...]]] = [
        (NeededCommand(("INFO", "memory"), "server facts and resource probe"), ("INFO", "memory")),
        (NeededCommand(("SCAN", "0"), "finding the model keys"), ("SCAN", "0", "COUNT", "1")),
        (NeededCommand(("SCRIPT", "LOAD"), "loading the compare-and-set script"), ("SCRIPT", "LOAD", CAS_SCRIPT)),
    ]
    token = secrets.token_hex(8)
    for prefix in key_prefixes:
        key, pattern = prefix + PROBE_KEY_SUFFIX, prefix + "*"
        probes += [
            (NeededCommand(("TYPE", key), f"reading keys under {prefix}", pattern), ("TYPE", key)),
            (NeededCommand(("HGETALL", key), f"reading hashes under {prefix}", pattern), ("HGETALL", key)),
            (
                NeededCommand(("EVALSHA", key), f"compare-and-set reads under {prefix}", pattern),
                ("EVALSHA", hashlib.sha1(CAS_SCRIPT).hexdigest(), 1, key, "om-runbook-probe", token, token, ""),
            ),
        ]
    denials = []
    for command, args in probes:
        try:
            client.execute_command(*args)
        except NoScriptError:
            continue  # SCRIPT LOAD was refused, and is reported
        except ResponseError as exc:
            if not is_permission_error(exc):
                raise
            denials.append((command, str(exc)))
    return denials


def _search_probe_denials(client: redis.Redis, index_names: Sequence[str]) -> list[tuple[NeededCommand, str]]:
    """Without ACL DRYRUN: FT.INFO and FT.SEARCH of each index run for real (an index that does not exist answers
    so, which is no denial), and FT.CREATE and FT.DROPINDEX on a throwaway index over a prefix no key has."""
    if not index_names:
        return []
    throwaway = f"{PROBE_KEY_SUFFIX}-{secrets.token_hex(6)}"
    by_label = {command.label: command for command in search_commands(index_names[:1], alias=False)}
    probes = [("FT.INFO", ("FT.INFO", name)) for name in index_names]
    probes += [("FT.SEARCH", ("FT.SEARCH", name, "*", "LIMIT", "0", "0")) for name in index_names]
    probes += [
        ("FT.CREATE", ("FT.CREATE", throwaway, "ON", "HASH", "PREFIX", "1", throwaway + ":", "SCHEMA", "f", "NUMERIC")),
        ("FT.DROPINDEX", ("FT.DROPINDEX", throwaway)),
    ]
    return [(by_label[label], reason) for label, args in probes if (reason := _refused(client, args))]


def _snapshot_probe_denials(client: redis.Redis) -> list[tuple[NeededCommand, str]]:
    """Without ACL DRYRUN, SYNC cannot be tried without starting a full resynchronisation; COMMAND INFO says whether
    the server has it at all (renamed or disabled, as managed services do). A SYNC the ACL denies shows when the
    snapshot starts, with the same remedies."""
    # the raw reply: redis-py's COMMAND parser fails on the nil a missing command answers
    replies = run_encoded(client, encode_command([b"COMMAND", b"INFO", b"SYNC", b"PSYNC"]), 1)[0]
    if not isinstance(replies, list):
        return []  # COMMAND itself refused: the snapshot will say
    missing = [name for name, reply in zip(("SYNC", "PSYNC"), replies, strict=False) if not reply]
    return [(SNAPSHOT_COMMAND, f"unknown command {' and '.join(missing)} (COMMAND INFO)")] if missing else []


def _refused(client: redis.Redis, args: Sequence[object]) -> str | None:
    """Run a probe for real: why it was refused (no permission, or no such command: renamed or disabled), or None
    when the server took it (an answer that is an error of another kind is no refusal)."""
    try:
        client.execute_command(*args)
    except ResponseError as exc:
        if _is_refusal(exc):
            return str(exc)
    return None


def _is_refusal(exc: ResponseError) -> bool:
    """No permission, or no such command (renamed or disabled). Of ACL DRYRUN itself: the checks fall back to
    probes."""
    return is_permission_error(exc) or "unknown command" in str(exc).lower()


def _loaded_modules(client: redis.Redis) -> set[str]:
    return {module.name.lower() for module in server_modules(client) or []}


def _per_master(nodes: RedisNodes, check: Callable[[redis.Redis], str]) -> list[str]:
    """`check` on every master; ACLs are per node in a cluster, so a refusal names the master that refused."""
    notes = []
    for node in nodes.nodes:
        try:
            notes.append(check(node.client))
        except RedisAccessError as exc:
            if nodes.is_cluster:
                raise RedisAccessError(f"on cluster master {node.name}: {exc}") from None
            raise
    return notes


def require_permissions(
    client: redis.Redis,
    key_prefixes: list[str],
    json_prefixes: Sequence[str] = (),
    index_names: Sequence[str] = (),
    alias: bool = False,
    snapshot: bool = False,
) -> str:
    """Raise RedisAccessError naming every refused command (with `snapshot`, SYNC too); else a note saying how
    permissions were checked. The
    JSON commands are checked only where RedisJSON is loaded (without it no JsonModel document exists), the search
    commands of the schema step (`index_names`) only where RediSearch is."""
    user = _user(client)
    loaded = _loaded_modules(client)
    if "rejson" not in loaded:
        json_prefixes = ()
    if "search" not in loaded:
        index_names = ()
    try:
        needed = needed_commands(
            key_prefixes,
            LEASE_KEY.decode(),
            MARKER_KEY.decode(),
            field_ttl=supports_field_ttl(read_redis_version(client)),
            json_prefixes=json_prefixes,
            index_names=index_names,
            alias=alias,
            snapshot=snapshot,
        )
        denials = _dryrun_denials(client, user, needed)
        note = f"permissions of Redis user {user!r} checked with ACL DRYRUN: every needed command allowed"
    except ResponseError as exc:
        if not _is_refusal(exc):
            raise
        denials = _probe_denials(client, key_prefixes) + _search_probe_denials(client, index_names)
        denials += _snapshot_probe_denials(client) if snapshot else []
        note = (
            f"ACL DRYRUN not available to Redis user {user!r}: its read commands were probed; a refused write "
            "stops the run at the first write with a clear message, and a re-run resumes once it is granted"
        )
    if denials:
        raise RedisAccessError(denial_message(user, denials))
    return note


@task(name="check-permissions", cache_policy=NONE)
def permissions_task(
    url: str,
    key_prefixes: list[str],
    refuse: bool = True,
    json_prefixes: list[str] | None = None,
    index_names: list[str] | None = None,
    alias: bool = False,
    snapshot: bool = False,
) -> str:
    """Before any write: every command the run needs is allowed to this Redis user (RedisAccessError if not).
    The run's first contact with Redis, so no retries: a wrong URL is reported at once. With `refuse=False`
    (the read-only assessment) a denial is returned as a finding instead."""
    nodes = open_nodes(url)
    try:
        notes = _per_master(
            nodes,
            lambda client: require_permissions(
                client, key_prefixes, json_prefixes or [], index_names or [], alias, snapshot
            ),
        )
    except RedisAccessError as exc:
        if refuse:
            raise
        return f"a migration with this Redis user would be refused: {exc}"
    return notes[0] + (f" (on each of the {len(notes)} masters)" if nodes.is_cluster else "")


def _restore_probe_denials(client: redis.Redis, needed: list[NeededCommand]) -> list[tuple[NeededCommand, str]]:
    """Without ACL DRYRUN: each command run for real on a probe key no one has. RESTORE gets a payload that is not
    one, so an allowed RESTORE answers a payload error and writes nothing; DEL of the probe key deletes nothing."""
    probes = [
        (
            command,
            ("RESTORE", command.args[1], "0", "not-a-dump-payload") if command.args[0] == "RESTORE" else command.args,
        )
        for command in needed
    ]
    return [(command, reason) for command, args in probes if (reason := _refused(client, args))]


def _require_restore_on(
    client: redis.Redis,
    key_prefixes: Sequence[str],
    json_prefixes: Sequence[str],
    index_names: Sequence[str],
    delete_extra: bool,
) -> str:
    user = _user(client)
    loaded = _loaded_modules(client)
    index_names = index_names if "search" in loaded else ()
    needed = restore_commands(key_prefixes, json_prefixes if "rejson" in loaded else (), index_names, delete_extra)
    try:
        denials = _dryrun_denials(client, user, needed)
    except ResponseError as exc:
        if not _is_refusal(exc):
            raise
        plain = [command for command in needed if not command.args[0].startswith("FT.")]
        denials = _restore_probe_denials(client, plain) + _search_probe_denials(client, index_names)
    if denials:
        raise RedisAccessError(denial_message(user, denials))
    return "permissions for the restore checked: every needed command allowed"


def require_restore_permissions(
    nodes: RedisNodes,
    key_prefixes: Sequence[str],
    json_prefixes: Sequence[str],
    index_names: Sequence[str],
    delete_extra: bool,
) -> str:
    """Before `restore-snapshot` reads or writes: every command it needs is allowed on every master (RedisAccessError
    naming the grant otherwise). The search commands only where RediSearch is loaded, JSON.GET where RedisJSON is."""
    notes = _per_master(
        nodes, lambda client: _require_restore_on(client, key_prefixes, json_prefixes, index_names, delete_extra)
    )
    return notes[0]
