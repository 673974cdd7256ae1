"""Find the local `redis-server` / `redis-check-rdb` and the modules that can check and restore-test a server's
snapshot; the choice itself is pure (migrations/rdb_tools.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from om_runbook.migrations.errors import ConfigurationError
from om_runbook.migrations.rdb_tools import (
    MODULE_DIR_ENV,
    RDB_TOOLS_ENV,
    LocalTool,
    RdbToolChoice,
    choose_rdb_tools,
    missing_modules_message,
    missing_tools_message,
    module_load_plan,
    parse_tool_version,
    rdb_version_of_header,
    rdb_version_written_by,
)
from om_runbook.migrations.server_facts import parse_release
from om_runbook.tasks.io.local_redis import RedisServer, start_redis_server
from om_runbook.tasks.readers.server_facts import read_redis_version, server_modules

TOOL_NAMES = ("redis-server", "redis-check-rdb")


@dataclass(frozen=True)
class RestoreTools:
    """What checks and restore-tests one server's snapshot."""

    choice: RdbToolChoice
    module_args: tuple[str, ...]
    rdb_version: int  # the RDB version the tools were chosen to read

    @property
    def server_binary(self) -> str:
        return self.choice.server.path

    def describe(self) -> str:
        checker = self.choice.checker or self.choice.server
        modules = self.module_args[1::2] if self.module_args else ()
        loaded = f", modules {', '.join(Path(path).name for path in modules)}" if modules else ""
        server = self.choice.server.describe()
        return f"redis-check-rdb {checker.describe()}, restore test on redis-server {server}{loaded}"


def _tool_release(path: str) -> LocalTool | None:
    try:
        completed = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    name = "redis-check-rdb" if Path(path).name.startswith("redis-check-rdb") else "redis-server"
    return LocalTool(path, name, parse_tool_version(completed.stdout + completed.stderr))


def tools_directory(option: Path | None) -> Path | None:
    """--rdb-tools-dir, else $OM_RUNBOOK_RDB_TOOLS_DIR."""
    value = option or os.environ.get(RDB_TOOLS_ENV)
    return Path(value) if value else None


def module_directory(option: Path | None) -> Path | None:
    """--module-dir, else $OM_RUNBOOK_MODULE_DIR."""
    value = option or os.environ.get(MODULE_DIR_ENV)
    return Path(value) if value else None


def find_local_tools(tools_dir: Path | None) -> list[LocalTool]:
    """redis-server and redis-check-rdb on PATH, then in `tools_dir` (a directory, or a redis-server binary)."""
    paths: list[str] = [found for name in TOOL_NAMES if (found := shutil.which(name))]
    if tools_dir is not None:
        if tools_dir.is_file():
            paths.append(str(tools_dir))
        paths += [str(tools_dir / name) for name in TOOL_NAMES if os.access(tools_dir / name, os.X_OK)]
    return [tool for tool in map(_tool_release, dict.fromkeys(paths)) if tool is not None]


def _module_dir_files(module_dir: Path | None) -> dict[str, str]:
    if module_dir is None or not module_dir.is_dir():
        return {}
    return {entry.name: str(entry) for entry in module_dir.iterdir() if entry.is_file()}


def resolve_restore_tools(
    client: redis.Redis,
    node_name: str,
    tools_dir: Path | None,
    module_dir: Path | None,
    rdb_version: int | None = None,
) -> RestoreTools:
    """The tools for this server's snapshot (the RDB version its release writes, unless the file's own header said
    otherwise); ConfigurationError naming what is missing and the remedy when there are none."""
    release = parse_release(read_redis_version(client))
    wanted = rdb_version or (rdb_version_written_by(release) if release else 12)
    found = find_local_tools(tools_directory(tools_dir))
    choice = choose_rdb_tools(found, wanted, release)
    if choice is None:
        raise ConfigurationError(missing_tools_message(node_name, wanted, release, found))
    directory = module_directory(module_dir)
    modules = server_modules(client) or []
    existing = frozenset(module.path for module in modules if module.path and Path(module.path).is_file())
    args, missing = module_load_plan(modules, existing, _module_dir_files(directory))
    if missing:
        raise ConfigurationError(missing_modules_message(node_name, missing, str(directory) if directory else None))
    return RestoreTools(choice, args, wanted)


def read_rdb_version(path: Path) -> int | None:
    """The RDB version in a snapshot file's header, or None when it does not start with one."""
    with open(path, "rb") as snapshot_file:
        return rdb_version_of_header(snapshot_file.read(9))


@contextmanager
def check_rdb_command(tools: RestoreTools, path: Path) -> Iterator[list[str]]:
    """The redis-check-rdb command line for `path`: the chosen checker, or the chosen redis-server started under
    that name (a symlink in a temporary directory)."""
    if tools.choice.checker is not None:
        yield [tools.choice.checker.path, str(path)]
        return
    with tempfile.TemporaryDirectory(prefix="om-runbook-check-rdb-") as directory:
        link = Path(directory) / "redis-check-rdb"
        link.symlink_to(tools.choice.server.path)
        yield [str(link), str(path)]


def restore_server(directory: Path, path: Path, tools: RestoreTools) -> RedisServer:
    shutil.copyfile(path, directory / "restore.rdb")
    return start_redis_server(
        directory, "--dbfilename", "restore.rdb", *tools.module_args, binary=tools.server_binary, ends_with_thread=True
    )
