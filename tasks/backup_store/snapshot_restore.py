"""`restore-snapshot`'s Redis side: the run's RDB snapshot loaded into throwaway local servers, its keys compared with
the target's, and the ones that differ or are missing copied back with DUMP / RESTORE ... REPLACE ABSTTL (the key's
own expiry, to the millisecond). The comparison rules are pure (migrations/snapshot_restore.py)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.exceptions import ResponseError

from om_runbook.migrations.backup_format import BackupManifest
from om_runbook.migrations.errors import BackupError, RedisAccessError
from om_runbook.migrations.index_plan import PreviousIndex, create_args_from_info
from om_runbook.migrations.server_facts import Version, parse_release
from om_runbook.migrations.snapshot_restore import (
    KeyContent,
    KeyState,
    RestoreDiff,
    checksum_refusal,
    compare_key,
    normalize_value,
    read_command,
    show_key,
)
from om_runbook.migrations.unfinished_run import MARKER_KEY
from om_runbook.tasks.backup_store.backup_format import file_sha256
from om_runbook.tasks.backup_store.rdb_tools import read_rdb_version, resolve_restore_tools, restore_server
from om_runbook.tasks.guards.lease import LEASE_KEY
from om_runbook.tasks.io.local_redis import RedisServer
from om_runbook.tasks.io.progress_meter import METER
from om_runbook.tasks.io.redis_connection import is_permission_error
from om_runbook.tasks.io.redis_nodes import RedisNodes, single_server
from om_runbook.tasks.io.resp import encode_command, run_encoded
from om_runbook.tasks.readers.keyspace import scan_key_batches
from om_runbook.tasks.readers.server_facts import read_redis_version

OWN_KEYS = frozenset({LEASE_KEY, MARKER_KEY})  # a run's lease and marker are ours, not the application's


@dataclass(frozen=True)
class SnapshotFile:
    path: Path
    sha256: str | None
    node: str  # the cluster master it was taken from ("" for a single server)


def snapshot_files(backup_dir: Path, manifest: BackupManifest) -> list[SnapshotFile]:
    """The run's snapshot files (one per master of a cluster), found in the backup directory's `rdb/` first: the
    directory may have been moved since the run."""
    snapshot = manifest.snapshot
    if snapshot is not None and snapshot.provider_reference:
        raise BackupError(
            f"the run in {backup_dir} recorded {snapshot.note}: restore that with the provider's own tools, or use "
            "`om-runbook rollback` from the logical backup; nothing was written"
        )
    if snapshot is None or not snapshot.taken:
        raise BackupError(
            f"the run in {backup_dir} took no RDB snapshot ({snapshot.note if snapshot else 'none recorded'}): "
            "`om-runbook rollback` from the logical backup is the way back; nothing was written"
        )
    files = []
    for part in snapshot.parts or [snapshot]:
        recorded = Path(part.path or "dump.rdb")
        here = backup_dir / "rdb" / recorded.name
        files.append(SnapshotFile(here if here.exists() or not recorded.exists() else recorded, part.sha256, part.node))
    return files


def require_intact(files: Sequence[SnapshotFile]) -> None:
    """Every snapshot file present, with the sha256 the manifest recorded (BackupError naming the file if not)."""
    for snapshot in files:
        actual = file_sha256(snapshot.path) if snapshot.path.is_file() else None
        refusal = checksum_refusal(str(snapshot.path), snapshot.sha256, actual)
        if refusal:
            raise BackupError(refusal)


@dataclass
class LoadedSnapshot:
    """The snapshot in throwaway local servers (one per file), and how long loading took."""

    clients: list[redis.Redis]
    load_seconds: float
    loader: str  # the binary that loaded it
    loader_release: Version | None


@contextmanager
def loaded_snapshot(
    files: Sequence[SnapshotFile], target: redis.Redis, tools_dir: Path | None, module_dir: Path | None
) -> Iterator[LoadedSnapshot]:
    """Each file loaded by a local redis-server that reads its RDB version, with the target's modules; stopped on
    exit. The tools are chosen as for the restore test, so what refuses one refuses the other."""
    with ExitStack() as stack:
        servers, started = [], time.perf_counter()
        loader = ""
        for snapshot in files:
            version = read_rdb_version(snapshot.path)
            if version is None:
                raise BackupError(f"the snapshot {snapshot.path} does not start with an RDB header (REDIS00NN)")
            tools = resolve_restore_tools(target, snapshot.node or "target", tools_dir, module_dir, version)
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="om-runbook-restore-snapshot-")))
            server = restore_server(directory, snapshot.path, tools)
            stack.callback(server.stop)
            servers.append(server)
            loader = tools.server_binary
        load_seconds = time.perf_counter() - started
        clients = [server.client() for server in servers]
        yield LoadedSnapshot(clients, load_seconds, loader, parse_release(read_redis_version(clients[0])))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_contents(client: redis.Redis, keys: Sequence[bytes]) -> list[KeyContent | None]:
    """Each key's type, value and absolute expiry, in two round trips; None for a key that does not exist."""
    meta = run_encoded(
        client,
        b"".join(encode_command((b"TYPE", key)) + encode_command((b"PEXPIRETIME", key)) for key in keys),
        2 * len(keys),
    )
    kinds = [_text(kind) for kind in meta[::2]]
    present = [position for position, kind in enumerate(kinds) if kind != "none"]
    payload = b"".join(
        encode_command((*(part.encode() for part in read_command(kinds[position])), keys[position]))
        for position in present
    )
    values = run_encoded(client, payload, len(present)) if present else []
    contents: list[KeyContent | None] = [None] * len(keys)
    for position, value in zip(present, values, strict=True):
        value = repr(value) if isinstance(value, ResponseError) else value
        expiry = meta[2 * position + 1]
        contents[position] = KeyContent(
            kinds[position], normalize_value(kinds[position], value), expiry if isinstance(expiry, int) else -3
        )
    return contents


def read_contents_on(nodes: RedisNodes, keys: Sequence[bytes]) -> list[KeyContent | None]:
    contents: list[KeyContent | None] = [None] * len(keys)
    for client, positions in nodes.split(keys):
        for position, content in zip(positions, read_contents(client, [keys[p] for p in positions]), strict=True):
            contents[position] = content
    return contents


def _write_error(key: bytes, error: ResponseError) -> Exception:
    if is_permission_error(error):
        return RedisAccessError(
            f"RESTORE of {show_key(key)} was refused ({error}): grant the restoring user +restore (and +del for "
            "--delete-extra) on the keys; re-run the same command to finish, what was written stays correct"
        )
    return BackupError(f"RESTORE of {show_key(key)} failed: {error}; re-run the same command to finish")


def copy_keys(source: redis.Redis, target: RedisNodes, keys: Sequence[bytes]) -> int:
    """DUMP each key on the loaded snapshot and RESTORE it on the target's master owning it, replacing what is there,
    with the snapshot's absolute expiry; a key that expired meanwhile is skipped. Returns the keys written."""
    payload = b"".join(encode_command((b"DUMP", key)) + encode_command((b"PEXPIRETIME", key)) for key in keys)
    replies = run_encoded(source, payload, 2 * len(keys))
    writes = [
        (key, dumped, expiry)
        for key, dumped, expiry in zip(keys, replies[::2], replies[1::2], strict=True)
        if isinstance(dumped, bytes)
    ]
    for client, positions in target.split([key for key, _, _ in writes]):
        commands = []
        for position in positions:
            key, dumped, expiry = writes[position]
            if isinstance(expiry, int) and expiry >= 0:
                commands.append(encode_command((b"RESTORE", key, b"%d" % expiry, dumped, b"REPLACE", b"ABSTTL")))
            else:
                commands.append(encode_command((b"RESTORE", key, b"0", dumped, b"REPLACE")))
        for position, reply in zip(positions, run_encoded(client, b"".join(commands), len(commands)), strict=True):
            if isinstance(reply, ResponseError):
                raise _write_error(writes[position][0], reply)
    return len(writes)


def delete_keys(target: RedisNodes, keys: Sequence[bytes]) -> int:
    """DEL each key on the master owning it, one command per key in one round trip (a cluster master refuses a DEL
    of keys in different slots)."""
    deleted = 0
    for client, positions in target.split(keys):
        replies = run_encoded(client, b"".join(encode_command((b"DEL", keys[p])) for p in positions), len(positions))
        for position, reply in zip(positions, replies, strict=True):
            if isinstance(reply, ResponseError):
                raise _write_error(keys[position], reply)
            deleted += int(reply)
    return deleted


def _snapshot_batches(
    loaded: LoadedSnapshot, prefixes: Sequence[str], batch_size: int
) -> Iterator[tuple[redis.Redis, list[bytes]]]:
    for client in loaded.clients:
        for prefix in prefixes:
            for keys in scan_key_batches(client, prefix, batch_size):
                yield client, [key for key in dict.fromkeys(keys) if key not in OWN_KEYS]


def _extra_keys(
    loaded: LoadedSnapshot, target: RedisNodes, prefixes: Sequence[str], batch_size: int
) -> Iterator[list[bytes]]:
    """Batches of target keys under `prefixes` that no snapshot file holds."""
    for client in target.clients:
        for prefix in prefixes:
            for keys in scan_key_batches(client, prefix, batch_size):
                keys = [key for key in dict.fromkeys(keys) if key not in OWN_KEYS]
                payload = b"".join(encode_command((b"EXISTS", key)) for key in keys)
                held = [0] * len(keys)
                for source in loaded.clients:
                    held = [a + int(b) for a, b in zip(held, run_encoded(source, payload, len(keys)), strict=True)]
                extra = [key for key, count in zip(keys, held, strict=True) if not count]
                if extra:
                    yield extra


@dataclass
class RestorePass:
    diff: RestoreDiff
    written: int = 0
    deleted: int = 0
    seconds: float = 0.0


def _restore_batch(
    source: redis.Redis, target: RedisNodes, keys: Sequence[bytes], write: bool, diff: RestoreDiff
) -> int:
    """One batch of snapshot keys compared with the target (counted in `diff`); with `write`, the ones that differ or
    are missing copied back. Returns the keys written."""
    to_write = []
    for key, in_snapshot, on_target in zip(
        keys, read_contents(source, keys), read_contents_on(target, keys), strict=True
    ):
        state = compare_key(in_snapshot, on_target)
        if state is not None:
            diff.add(state, key)
        if state in (KeyState.DIFFERS, KeyState.MISSING):
            to_write.append(key)
    return copy_keys(source, target, to_write) if write and to_write else 0


def restore_pass(
    loaded: LoadedSnapshot,
    target: RedisNodes,
    prefixes: Sequence[str],
    batch_size: int,
    write: bool,
    delete_extra: bool,
    phase: str,
) -> RestorePass:
    """Compare every snapshot key under `prefixes` with the target; with `write`, copy back each that differs or is
    missing as its batch is compared (and, with `delete_extra`, delete target keys the snapshot lacks). Without
    `write` it only reads: the dry run and the check after the writes."""
    started = time.perf_counter()
    result = RestorePass(RestoreDiff())
    METER.begin(phase, sum(int(client.dbsize()) for client in loaded.clients))
    for source, keys in _snapshot_batches(loaded, prefixes, batch_size):
        result.written += _restore_batch(source, target, keys, write, result.diff)
        METER.advance(len(keys))
    for extra in _extra_keys(loaded, target, prefixes, batch_size):
        for key in extra:
            result.diff.add(KeyState.EXTRA, key)
        if write and delete_extra:
            result.deleted += delete_keys(target, extra)
    result.seconds = time.perf_counter() - started
    return result


def index_stands_as_before(client: redis.Redis, previous: PreviousIndex) -> bool:
    """The index under `previous.index_name` is the definition the schema step recorded (or absent, as before)."""
    try:
        info = client.execute_command("FT.INFO", previous.index_name)
    except ResponseError:
        return not previous.existed
    return previous.existed and create_args_from_info(previous.index_name, info) == previous.create_args


def copy_whole_snapshot(
    paths: Sequence[Path], target: RedisNodes, tools_dir: Path | None = None, module_dir: Path | None = None
) -> int:
    """Every key of the snapshot files into `target` (a throwaway or staging server): the staging rehearsal's
    restore of production's latest snapshot. Returns the keys written."""
    files = [SnapshotFile(path, None, "") for path in paths]
    with loaded_snapshot(files, target.nodes[0].client, tools_dir, module_dir) as loaded:
        return sum(copy_keys(source, target, keys) for source, keys in _snapshot_batches(loaded, [""], 1000))


RATE_SAMPLE_KEYS = 2000


def measure_restore_rate(server: RedisServer, sample: int = RATE_SAMPLE_KEYS) -> float:
    """keys/s of restore-snapshot's work per key (compare both sides, DUMP/RESTORE, compare again), measured on up to
    `sample` keys of a loaded snapshot copied into the same throwaway server's database 1 (loopback: a remote target
    adds its network round trips); 0.0 for an empty snapshot."""
    source = server.client()
    keys = [key for key, _ in zip(source.scan_iter(count=sample), range(sample), strict=False)]
    if not keys:
        return 0.0
    target = single_server(redis.Redis(host="127.0.0.1", port=server.port, password=server.password, db=1))
    started = time.perf_counter()
    _restore_batch(source, target, keys, write=True, diff=RestoreDiff())  # database 1 is empty: every key written
    _restore_batch(source, target, keys, write=False, diff=RestoreDiff())  # the check after the writes
    return len(keys) / (time.perf_counter() - started)
