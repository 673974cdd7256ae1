"""Checklist phase "Backup and recovery", part (a): a full RDB snapshot, checked and restore-tested.

The snapshot comes through the replication stream (`redis-cli --rdb`); `redis-check-rdb` checks it;
a throwaway local redis-server loads it and is compared with the source (key count, sample of keys). Both tools must
read the file's RDB version, and the throwaway server loads the source's modules (rdb_tools.py beside this finds them).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.utils import str_if_bytes

from om_runbook.migrations.backup_format import SnapshotInfo, combine_snapshots
from om_runbook.migrations.errors import BackupError, ConfigurationError
from om_runbook.migrations.redaction import redact_text, url_password, url_secrets
from om_runbook.tasks.backup_store.backup_format import file_sha256
from om_runbook.tasks.backup_store.rdb_tools import (
    RestoreTools,
    check_rdb_command,
    read_rdb_version,
    resolve_restore_tools,
    restore_server,
)
from om_runbook.tasks.backup_store.snapshot_restore import measure_restore_rate
from om_runbook.tasks.io.progress_meter import METER, ProgressMeter
from om_runbook.tasks.io.redis_nodes import RedisNode, RedisNodes
from om_runbook.tasks.readers.server_facts import read_server_facts

SAMPLE_KEYS = 200
SNAPSHOT_TIMEOUT_SECONDS = 3600
TICK_SECONDS = 0.1
SYNC_DELAY = "repl-diskless-sync-delay"


def redis_cli_connection(url: str) -> tuple[list[str], dict[str, str]]:
    """redis-cli arguments and environment for a URL; the password travels in REDISCLI_AUTH, not argv."""
    parts = urlsplit(url)
    env = dict(os.environ)
    if url_password(url):
        env["REDISCLI_AUTH"] = url_password(url)
    if parts.scheme == "unix":
        return ["-s", parts.path], env
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigurationError(f"unsupported URL scheme {parts.scheme!r} for redis-cli")
    args = ["-h", parts.hostname or "localhost", "-p", str(parts.port or 6379)]
    if parts.username:
        args += ["--user", unquote(parts.username)]
    if parts.scheme == "rediss":
        args += ["--tls", *_tls_arguments(parse_qs(parts.query))]
    return args, env


_TLS_FILE_OPTIONS = {
    "ssl_ca_certs": "--cacert",
    "ssl_ca_path": "--cacertdir",
    "ssl_certfile": "--cert",
    "ssl_keyfile": "--key",
}


def _tls_arguments(query: dict[str, list[str]]) -> list[str]:
    """redis-cli TLS flags for the redis-py TLS options a rediss:// URL carries in its query string."""
    args = []
    for option, flag in _TLS_FILE_OPTIONS.items():
        if option in query:
            args += [flag, query[option][-1]]
    if query.get("ssl_cert_reqs", [""])[-1].lower() in ("none", "cert_none"):
        args.append("--insecure")
    return args


def _run(
    command: list[str], env: dict[str, str] | None, on_tick: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run to the end (at most SNAPSHOT_TIMEOUT_SECONDS), calling `on_tick` every TICK_SECONDS meanwhile."""
    try:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed: apt-get install redis-tools") from None
    deadline = time.monotonic() + SNAPSHOT_TIMEOUT_SECONDS
    while True:
        try:
            stdout, stderr = process.communicate(timeout=TICK_SECONDS)
            return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                process.kill()
                process.communicate()
                raise BackupError(f"{command[0]} did not finish in {SNAPSHOT_TIMEOUT_SECONDS} s") from None
            if on_tick is not None:
                on_tick()


def connected_replicas(client: redis.Redis) -> int | None:
    """INFO replication's `connected_slaves` (replicas in any state, one taking a snapshot too); None if refused."""
    try:
        return int(client.info("replication").get("connected_slaves", 0))
    except (redis.RedisError, ValueError):
        return None


class SyncDelay:
    """The server's `repl-diskless-sync-delay` (5 s by default: before it forks for a diskless SYNC, the server waits
    that long for more replicas to batch) set to 0 for the snapshot's SYNC, and restored once the transfer began.
    At 100k keys that wait was most of the backup phase. Where CONFIG is refused, the SYNC waits, as before."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.lowered_from: int | None = None
        self.note = ""

    def lower(self) -> None:
        try:
            answer = self.client.config_get("repl-diskless-sync*")
            config = {str_if_bytes(k): str_if_bytes(v) for k, v in answer.items()}
            delay = int(config.get(SYNC_DELAY, "0"))
            if config.get("repl-diskless-sync") != "yes" or delay <= 0:
                return
        except (redis.RedisError, ValueError) as exc:
            self.note = f"the server's {SYNC_DELAY} unread ({_first_line(exc)}): the SYNC waited it"
            return
        try:
            self.client.config_set(SYNC_DELAY, 0)
        except redis.RedisError as exc:
            self.note = f"the SYNC waited the server's {SYNC_DELAY} of {delay} s (CONFIG SET: {_first_line(exc)})"
            return
        self.lowered_from = delay

    def restore(self) -> None:
        """Idempotent; a failure is in the note, with the command that restores it."""
        if self.lowered_from is None:
            return
        delay, self.lowered_from = self.lowered_from, None
        try:
            self.client.config_set(SYNC_DELAY, delay)
            self.note = f"the server's {SYNC_DELAY} of {delay} s set to 0 for this SYNC and restored"
        except redis.RedisError as exc:
            self.note = (
                f"the server's {SYNC_DELAY} was set to 0 for this SYNC and NOT restored ({_first_line(exc)}): "
                f"run CONFIG SET {SYNC_DELAY} {delay}"
            )


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def take_snapshot(
    url: str,
    destination: Path,
    client: redis.Redis,
    meter: ProgressMeter = METER,
    accepted: threading.Event | None = None,
) -> tuple[Path, int, str, str]:
    """`redis-cli --rdb` into `destination`; (path, size, sha256, what became of the server's sync delay).
    BackupError when the server refuses. `accepted` is set once the server took the SYNC (one more replica on
    `client`'s server): a SYNC refused by an ACL answers at once, so the caller may wait for this before it reads user
    data."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    args, env = redis_cli_connection(url)
    replicas_before = connected_replicas(client)
    delay, began = SyncDelay(client), accepted or threading.Event()

    def count_bytes() -> None:
        size = 0
        with contextlib.suppress(OSError):
            size = destination.stat().st_size
            meter.set_done(size)
        if began.is_set():
            return
        if size or (replicas_before is not None and (connected_replicas(client) or 0) > replicas_before):
            delay.restore()  # the server took the SYNC, and with no delay forked for it at once
            began.set()

    delay.lower()
    try:
        completed = _run(["redis-cli", *args, "--rdb", str(destination)], env, count_bytes)
    finally:
        delay.restore()
    output = redact_text((completed.stdout + completed.stderr).strip(), url_secrets(url))
    if completed.returncode != 0 or not destination.exists() or destination.stat().st_size == 0:
        raise BackupError(
            f"the server refused a full snapshot through the replication stream (managed Redis often "
            f"does): {output.splitlines()[-1] if output else 'no output'}. Grant it (+sync), or take the provider's "
            "own snapshot and run with --snapshot-reference ID (or --no-rdb-snapshot): the logical backup still "
            "guarantees the exact rollback"
        )
    return destination, destination.stat().st_size, file_sha256(destination), delay.note


def check_snapshot(path: Path, tools: RestoreTools) -> tuple[bool, str]:
    with check_rdb_command(tools, path) as command:
        completed = _run(command, None)
    output = (completed.stdout + completed.stderr).strip()
    return completed.returncode == 0 and "RDB looks OK" in output, output.splitlines()[-1] if output else ""


def _same_value(source: redis.Redis, restored: redis.Redis, key: bytes) -> bool:
    kind = source.type(key)
    if kind != restored.type(key):
        return False
    if kind == b"hash":
        return source.hgetall(key) == restored.hgetall(key)
    if kind == b"string":
        return source.get(key) == restored.get(key)
    return source.dump(key) == restored.dump(key)


def restore_test(path: Path, source: redis.Redis, source_keys: int, tools: RestoreTools) -> SnapshotInfo:
    """Load the snapshot into a throwaway local redis-server and compare it with the source."""
    with tempfile.TemporaryDirectory(prefix="om-runbook-restore-") as directory:
        started = time.perf_counter()
        server = restore_server(Path(directory), path, tools)
        load_seconds = time.perf_counter() - started
        try:
            restored = server.client()
            restored_keys = read_server_facts(restored).total_keys
            sample = [key for key in (restored.randomkey() for _ in range(SAMPLE_KEYS)) if key is not None]
            equal = sum(_same_value(source, restored, key) for key in set(sample))
            compared = len(set(sample))
            rate = measure_restore_rate(server)
        finally:
            server.stop()
    return SnapshotInfo(
        taken=True,
        restore_tested=True,
        source_keys=source_keys,
        restored_keys=restored_keys,
        sample_keys_compared=compared,
        sample_keys_equal=equal,
        load_seconds=load_seconds,
        restore_keys_per_second=rate,
    )


def snapshot_and_restore_test(
    node: RedisNode,
    destination: Path,
    tools_dir: Path | None = None,
    module_dir: Path | None = None,
    meter: ProgressMeter = METER,
    accepted: threading.Event | None = None,
) -> SnapshotInfo:
    """The whole part (a): snapshot, check, restore test. Raises BackupError when any check fails, and
    ConfigurationError before the snapshot when no local tool can read what this server writes. `accepted`: as for
    take_snapshot."""
    client = node.client
    tools = resolve_restore_tools(client, node.name, tools_dir, module_dir)
    facts = read_server_facts(client)
    source_keys = facts.total_keys
    meter.begin(f"backup: RDB snapshot of {destination.name}", facts.used_memory, unit="bytes")
    path, size, sha256, delay_note = take_snapshot(node.url, destination, client, meter, accepted)
    meter.finish_at(size)  # used_memory was the estimate; the file's size is the truth
    rdb_version = read_rdb_version(path)
    if rdb_version is None:
        raise BackupError(f"the snapshot {path} does not start with an RDB header (REDIS00NN)")
    if rdb_version != tools.rdb_version:  # the file's own version is not the one its release was expected to write
        tools = resolve_restore_tools(client, node.name, tools_dir, module_dir, rdb_version)
    meter.enter("backup: redis-check-rdb and restore test")
    check_passed, check_line = check_snapshot(path, tools)
    if not check_passed:
        raise BackupError(
            f"redis-check-rdb rejected the snapshot {path} (RDB version {rdb_version}, checked with "
            f"{tools.describe()}): {check_line}"
        )
    info = restore_test(path, client, source_keys, tools)
    info.path, info.size_bytes, info.sha256, info.check_passed = str(path), size, sha256, True
    if not info.restore_matches(facts.keys_with_ttl):
        raise BackupError(
            f"the restore test of {path} does not match the source: {info.restored_keys} keys restored, "
            f"{source_keys} on the server ({facts.keys_with_ttl} with a TTL); {info.sample_keys_equal}/"
            f"{info.sample_keys_compared} sampled keys equal (is the application still writing? stop it for the "
            "snapshot)"
        )
    expired = source_keys - (info.restored_keys or 0)
    info.note = (
        f"RDB version {rdb_version}, restore-tested: {info.restored_keys} keys, {info.sample_keys_equal} sampled keys "
        f"equal"
        + (f" ({expired} keys with a TTL expired before the restore test)" if expired else "")
        + f"; {tools.describe()}"
        + (f"; {delay_note}" if delay_note else "")
    )
    return info


def snapshot_nodes(
    nodes: RedisNodes,
    directory: Path,
    tools_dir: Path | None = None,
    module_dir: Path | None = None,
    meter: ProgressMeter = METER,
    accepted: threading.Event | None = None,
) -> SnapshotInfo:
    """Part (a) on every master: `dump.rdb` for a single server, `dump-HOST-PORT.rdb` per cluster master. `meter`
    counts its progress (a private one when it runs beside the logical scan, which owns the display); `accepted` is
    set once the first master took the SYNC."""
    if not nodes.is_cluster:
        return snapshot_and_restore_test(nodes.nodes[0], directory / "dump.rdb", tools_dir, module_dir, meter, accepted)
    parts = []
    for node in nodes.nodes:
        destination = directory / f"dump-{re.sub(r'[^A-Za-z0-9.]+', '-', node.name)}.rdb"
        part = snapshot_and_restore_test(node, destination, tools_dir, module_dir, meter, accepted)
        part.node = node.name
        parts.append(part)
    return combine_snapshots(parts, str(directory))


def provider_snapshot(reference: str, taken_at: str | None) -> SnapshotInfo:
    """The provider's own snapshot, given by the operator (--snapshot-reference), as the run's full backup."""
    when = f"taken {taken_at}" if taken_at else "its time not given (--snapshot-taken-at)"
    return SnapshotInfo(
        taken=False,
        provider_reference=reference,
        provider_taken_at=taken_at,
        note=f"the provider's snapshot {reference} ({when}) is the full backup; no RDB snapshot of om-runbook's",
    )


def no_snapshot(reason: str) -> SnapshotInfo:
    return SnapshotInfo(taken=False, note=f"no RDB snapshot: {reason} (accepted with --no-rdb-snapshot)")
