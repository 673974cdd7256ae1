"""The backup directory on disk: manifest, per-chunk backup files and per-chunk checkpoints."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple, TextIO

from pydantic import BaseModel, Field

from om_runbook.migrations.backup_format import (
    MANIFEST_NAME,
    BackupManifest,
    ChunkBackup,
    KeyBackup,
    decode_line,
    encode_line,
    foreign_directory_refusal,
    parse_line,
)
from om_runbook.migrations.errors import BackupError, BackupLost, ConfigurationError
from om_runbook.migrations.timeline import ChunkSpan


def chunk_path(backup_dir: Path, chunk: ChunkBackup) -> Path:
    return backup_dir / chunk.file


def fsync_directory(directory: Path) -> None:
    """Make a create or rename in `directory` durable: without it a power loss can undo the rename of a fsynced file."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def make_directory(directory: Path) -> None:
    """mkdir -p, each new level fsynced into its parent."""
    missing = [parent for parent in [directory, *directory.parents] if not parent.exists()]
    directory.mkdir(parents=True, exist_ok=True)
    for created in reversed(missing):
        fsync_directory(created.parent)


def backup_write_error(backup_dir: Path, exc: OSError) -> BackupError:
    if exc.errno == errno.ENOSPC:
        return BackupError(f"the backup directory {backup_dir} is full; free space or use another --backup-dir")
    return BackupError(f"cannot write the backup in {backup_dir}: {exc.strerror or exc}")


def require_own_directory(backup_dir: Path) -> None:
    """Refuse `/` and a directory holding files that are not a backup of ours, before anything is written there."""
    resolved = backup_dir.expanduser().resolve()
    if resolved.exists() and not resolved.is_dir():
        raise ConfigurationError(f"--backup-dir {backup_dir} is a file, not a directory; nothing was written")
    entries = [entry.name for entry in resolved.iterdir()] if resolved.is_dir() else []
    refusal = foreign_directory_refusal(str(resolved), entries)
    if refusal:
        raise ConfigurationError(refusal)


class BackupDirectoryLock:
    """`with BackupDirectoryLock(path):` one process at a time writes a backup directory (an flock on the directory,
    released by the kernel when the process dies)."""

    def __init__(self, backup_dir: Path) -> None:
        self.backup_dir = backup_dir
        self._descriptor: int | None = None
        self.created = False

    def __enter__(self) -> BackupDirectoryLock:
        try:
            self.created = not self.backup_dir.exists()
            make_directory(self.backup_dir)
            descriptor = os.open(self.backup_dir, os.O_RDONLY)
        except OSError as exc:
            raise backup_write_error(self.backup_dir, exc) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise ConfigurationError(
                f"another om-runbook process on this machine is using --backup-dir {self.backup_dir}; wait for it to "
                "end (`om-runbook status`) or use another directory; nothing was written"
            ) from None
        self._descriptor = descriptor
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing releases the flock
            self._descriptor = None

    def discard_new_backup(self) -> None:
        """A refusal before the first write: remove the backup this run wrote (manifest, chunk files, snapshots), so
        no half backup is left for a later run to mistake for its own. A directory this run created goes entirely (a
        refusal leaves no backup directory); in one that existed, the run's status and report stay."""
        if self.created:
            shutil.rmtree(self.backup_dir, ignore_errors=True)
            return
        for name in ("chunks", "rdb"):
            shutil.rmtree(self.backup_dir / name, ignore_errors=True)
        (self.backup_dir / MANIFEST_NAME).unlink(missing_ok=True)


class ChunkFile(NamedTuple):
    """A chunk's backup file once written: what the manifest records of it."""

    key_count: int
    fields: int
    sha256: str


def partial_path(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


class ChunkWriter:
    """Writes `path` as `path.partial`: `finish` makes it durable, then `publish_chunk_file` renames it to `path`.
    A file under its final name is always whole, and a backup interrupted before that leaves nothing a later run could
    mistake for one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = partial_path(path)
        self.handle: TextIO = open(self.partial, "w", encoding="utf-8")  # noqa: SIM115 - closed in finish()
        self.sha256 = hashlib.sha256()
        self.key_count = 0
        self.fields = 0

    def write(self, entry: KeyBackup) -> None:
        line = encode_line(entry)
        self.handle.write(line)
        self.sha256.update(line.encode("utf-8"))
        self.key_count += 1
        self.fields += len(entry.changes)

    def finish(self) -> ChunkFile:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        return ChunkFile(self.key_count, self.fields, self.sha256.hexdigest())

    def close(self) -> ChunkFile:
        """Finish and publish."""
        written = self.finish()
        publish_chunk_file(self.path)
        return written

    def discard(self) -> None:
        if not self.handle.closed:
            self.handle.close()
        self.partial.unlink(missing_ok=True)


def publish_chunk_file(path: Path) -> None:
    os.replace(partial_path(path), path)
    fsync_directory(path.parent)


def write_atomically(path: Path, text: str, within: Path | None = None) -> None:
    """Write a small file so that a crash leaves either the old or the new content, never a torn one, and the new
    content survives a power loss once this returns. `within`: a directory the file's own directories are made in
    one level at a time, so that it is never re-created if it was removed meanwhile (FileNotFoundError instead)."""
    if within is None:
        make_directory(path.parent)
    else:
        make_levels_below(within, path.parent)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_directory(path.parent)


def save_manifest(backup_dir: Path, manifest: BackupManifest) -> None:
    write_atomically(backup_dir / MANIFEST_NAME, manifest.model_dump_json(indent=2))


def load_manifest(backup_dir: Path) -> BackupManifest | None:
    path = backup_dir / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        return BackupManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"cannot read backup manifest {path}: {exc}") from None


def writes_may_have_begun(backup_dir: Path) -> list[str]:
    """Why a directory without a complete manifest may still hold the only copy of originals: migrate progress, or
    chunk files that were finished (a backup writes them as `.partial` and renames them once complete)."""
    evidence = [f"migrate progress in {path}" for path in sorted((backup_dir / "progress" / "migrate").glob("*.json"))]
    evidence += [
        f"a finished backup file {path} ({path.stat().st_size} bytes)"
        for path in sorted((backup_dir / "chunks").glob("*.jsonl"))
        if path.stat().st_size
    ]
    return evidence


def require_complete_manifest(backup_dir: Path) -> BackupManifest:
    manifest = load_manifest(backup_dir)
    if manifest is None:
        raise BackupError(f"no backup manifest in {backup_dir}: is this the --backup-dir of a run?")
    if manifest.status == "in_progress":
        raise BackupError(f"the backup in {backup_dir} never completed; no data was changed from it")
    return manifest


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_chunk_files(backup_dir: Path, manifest: BackupManifest) -> None:
    """Every chunk file is present and matches its recorded checksum (the rollback depends on it): checked before
    anything is written, a damaged file refused by name with the way back for its keys."""
    for chunk in manifest.chunks:
        path = chunk_path(backup_dir, chunk)
        if not path.exists():
            raise BackupError(f"backup file {path} is missing; {_snapshot_way_back(backup_dir, chunk)}")
        if file_sha256(path) != chunk.sha256:
            raise BackupError(
                f"backup file {path} does not match the sha256 the manifest recorded (changed, truncated or damaged "
                f"since the backup); {_snapshot_way_back(backup_dir, chunk)}"
            )


def _snapshot_way_back(backup_dir: Path, chunk: ChunkBackup) -> str:
    return (
        f"nothing was written. The originals of its {chunk.key_count:,} keys are also in the run's RDB snapshot: "
        f"`om-runbook restore-snapshot --backup-dir {backup_dir}` shows what it would put back (a dry run), "
        "--confirm writes it"
    )


def read_chunk(backup_dir: Path, chunk: ChunkBackup, start_line: int = 0) -> Iterator[tuple[int, KeyBackup]]:
    """(line number, entry) from `start_line` on."""
    with open(chunk_path(backup_dir, chunk), encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number >= start_line:
                yield number, decode_line(line)


def read_chunk_items(backup_dir: Path, chunk: ChunkBackup, start_line: int = 0) -> Iterator[list[str]]:
    """Each line's raw items from `start_line` on, without building objects (the compare-and-set path)."""
    with open(chunk_path(backup_dir, chunk), encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number >= start_line:
                yield parse_line(line)


class Checkpoint(BaseModel):
    """Progress of one chunk in one direction (migrate or rollback): lines done and counts so far."""

    lines_done: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    finished: bool = False
    runs: list[ChunkSpan] = Field(default_factory=list, description="when each process worked on the chunk")


def checkpoint_path(backup_dir: Path, direction: str, chunk: ChunkBackup) -> Path:
    return backup_dir / "progress" / direction / f"chunk-{chunk.index:04d}.json"


# Checkpoints this process could not write (a full disk), by path: still its progress, for a retried task and for
# the progress display, until a write succeeds or the chunk's progress is cleared.
_UNWRITTEN: dict[Path, Checkpoint] = {}


def load_checkpoint(backup_dir: Path, direction: str, chunk: ChunkBackup) -> Checkpoint:
    path = checkpoint_path(backup_dir, direction, chunk)
    if path in _UNWRITTEN:
        return _UNWRITTEN[path]
    if not path.exists():
        return Checkpoint()
    return Checkpoint.model_validate_json(path.read_text(encoding="utf-8"))


def require_backup_present(backup_dir: Path) -> None:
    """BackupLost when the backup directory's manifest is gone (the directory removed or unmounted mid-run)."""
    if not (backup_dir / MANIFEST_NAME).is_file():
        raise BackupLost(
            f"the backup directory {backup_dir} was removed or unmounted during the run ({MANIFEST_NAME} is gone): "
            "the chunks stopped before their next write. It held the original of every value converted so far, so "
            "no rollback was attempted. Put the directory back as it was (from a copy or a file-system snapshot), "
            f"then run `om-runbook rollback --backup-dir {backup_dir}`, or re-run the same command to resume"
        )


def make_levels_below(backup_dir: Path, directory: Path) -> None:
    """Each missing level from `backup_dir` down to `directory`, one mkdir at a time: a backup directory removed
    meanwhile makes the first one fail (FileNotFoundError) instead of being re-created, as `parents=True` would."""
    for level in [*reversed(directory.relative_to(backup_dir).parents), directory.relative_to(backup_dir)]:
        if str(level) != ".":
            (backup_dir / level).mkdir(exist_ok=True)


def save_checkpoint(backup_dir: Path, direction: str, chunk: ChunkBackup, checkpoint: Checkpoint) -> None:
    """Write the checkpoint; when the disk refuses it (OSError, raised for the caller to judge) it is kept in memory.
    The backup directory itself is never re-created here: gone, it is the run's to report (BackupLost)."""
    # No fsync: losing a checkpoint only replays batches, and every write is a compare-and-set.
    path = checkpoint_path(backup_dir, direction, chunk)
    temporary = path.with_name(path.name + ".tmp")
    try:
        if not backup_dir.is_dir():
            raise FileNotFoundError(errno.ENOENT, "the backup directory is gone", str(backup_dir))
        make_levels_below(backup_dir, path.parent)
        temporary.write_text(json.dumps(checkpoint.model_dump()), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        _UNWRITTEN[path] = checkpoint
        temporary.unlink(missing_ok=True)  # a partly written temporary file holds space a full disk lacks
        raise
    _UNWRITTEN.pop(path, None)


def chunk_result_path(backup_dir: Path, chunk: ChunkBackup) -> Path:
    """Where a chunk run on a worker leaves its result for the parent (fan-out)."""
    return backup_dir / "progress" / "migrate" / f"result-{chunk.index:04d}.json"


def clear_checkpoint(backup_dir: Path, direction: str, chunk: ChunkBackup) -> None:
    path = checkpoint_path(backup_dir, direction, chunk)
    _UNWRITTEN.pop(path, None)
    path.unlink(missing_ok=True)


def clear_checkpoints(backup_dir: Path, direction: str) -> None:
    folder = backup_dir / "progress" / direction
    for path in [path for path in _UNWRITTEN if path.parent == folder]:
        del _UNWRITTEN[path]
    if folder.exists():
        for path in folder.iterdir():
            path.unlink()


def latest_snapshot(backups_root: Path) -> list[Path]:
    """The newest RDB snapshot among the backup directories under `backups_root` (staging restores): its
    `dump.rdb`, or each master's `dump-*.rdb` of a cluster; empty when there is none."""
    found = [path.parent for path in backups_root.glob("*/rdb/dump*.rdb") if path.is_file()]
    if not found:
        return []
    newest = max(set(found), key=lambda directory: max(p.stat().st_mtime for p in directory.glob("dump*.rdb")))
    return sorted(newest.glob("dump*.rdb"))
