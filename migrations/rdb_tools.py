"""Which local Redis tools can check and restore-test a snapshot, and what to say when none can (pure).

An RDB file starts with `REDIS00NN`, NN its format version. A tool reads the versions its Redis release writes and
older ones: Debian's Redis 7.0 tools read up to 10, while Redis 7.4 to 8.x write 12. A `redis-server` binary also
acts as `redis-check-rdb` when started under that name, so one `redis-server` of the right release is enough.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from om_runbook.migrations.server_facts import Version

# The RDB version each Redis release writes (release -> version), newest first.
_RDB_VERSION_SINCE: tuple[tuple[Version, int], ...] = (
    ((7, 4, 0), 12),
    ((7, 2, 0), 11),
    ((7, 0, 0), 10),
    ((5, 0, 0), 9),
    ((4, 0, 0), 8),
    ((3, 2, 0), 7),
)
_HEADER = re.compile(rb"REDIS(\d{4})")
_VERSION = re.compile(r"(?:v=|\s)(\d+)\.(\d+)\.(\d+)")

RDB_TOOLS_ENV = "OM_RUNBOOK_RDB_TOOLS_DIR"
MODULE_DIR_ENV = "OM_RUNBOOK_MODULE_DIR"


def rdb_version_of_header(header: bytes) -> int | None:
    """The format version in an RDB file's first nine bytes, or None when they are not an RDB header."""
    match = _HEADER.match(header)
    return int(match.group(1)) if match else None


def parse_tool_version(output: str) -> Version | None:
    """The release in `redis-server --version` ("Redis server v=8.2.3 ...") or `redis-check-rdb --version`
    ("redis-check-rdb 7.0.15", or "redis-check-rdb v=8.2.3 ...")."""
    match = _VERSION.search(" " + output)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None


def rdb_version_written_by(release: Version) -> int:
    for since, version in _RDB_VERSION_SINCE:
        if release >= since:
            return version
    return 6


def format_version(release: Version) -> str:
    return ".".join(map(str, release))


@dataclass(frozen=True, slots=True)
class LocalTool:
    """A `redis-server` or `redis-check-rdb` binary on this host and the release it reports."""

    path: str
    name: str  # "redis-server" or "redis-check-rdb"
    release: Version | None

    def reads(self, rdb_version: int, source_release: Version | None) -> bool:
        """A tool reads what its own release writes, and everything a release no newer than its own wrote."""
        if self.release is None:
            return False
        if source_release is not None and self.release >= source_release:
            return True
        return rdb_version_written_by(self.release) >= rdb_version

    def describe(self) -> str:
        return f"{self.path} ({format_version(self.release) if self.release else 'version unknown'})"


@dataclass(frozen=True, slots=True)
class RdbToolChoice:
    """The binaries that check and restore-test a snapshot: `checker` is None when `server` serves as the checker
    (started under the name redis-check-rdb)."""

    server: LocalTool
    checker: LocalTool | None


def choose_rdb_tools(
    found: Sequence[LocalTool], rdb_version: int, source_release: Version | None
) -> RdbToolChoice | None:
    """The first `redis-server` in `found` (search order) that reads `rdb_version`, with the first
    `redis-check-rdb` that does too (else the server acts as one); None when no server can."""
    servers = [tool for tool in found if tool.name == "redis-server" and tool.reads(rdb_version, source_release)]
    if not servers:
        return None
    checkers = [tool for tool in found if tool.name == "redis-check-rdb" and tool.reads(rdb_version, source_release)]
    return RdbToolChoice(servers[0], checkers[0] if checkers else None)


def missing_tools_message(
    server: str, rdb_version: int, source_release: Version | None, found: Sequence[LocalTool]
) -> str:
    """The refusal when no local tool reads the snapshot: what it is, what was found, and the three remedies."""
    release = f"Redis {format_version(source_release)}" if source_release else "the server"
    wanted = f"{release} or newer" if source_release else "the server's release or newer"
    tools = "; ".join(f"{tool.name} {tool.describe()}" for tool in found) or "none"
    return (
        f"{server}: {release} writes RDB version {rdb_version}, and no local redis-server can read it to check and "
        f"restore-test the snapshot (found: {tools}). Put a redis-server (and redis-check-rdb) of {wanted} on PATH, "
        f"or pass --rdb-tools-dir DIR (or set {RDB_TOOLS_ENV}) naming a directory that holds one, or accept running "
        "without a checked snapshot with --no-rdb-snapshot; nothing was written"
    )


@dataclass(frozen=True, slots=True)
class ServerModule:
    """A module the source server loaded (MODULE LIST): built-in modules have no path."""

    name: str
    path: str
    args: tuple[str, ...] = ()


def module_load_plan(
    modules: Sequence[ServerModule], existing: frozenset[str], module_dir_files: dict[str, str]
) -> tuple[tuple[str, ...], list[ServerModule]]:
    """`--loadmodule` arguments for a restore-test server, and the modules found nowhere. A module is loaded from
    the path the source reports when it exists on this host (`existing`), else from the module directory
    (`module_dir_files`: file name -> path)."""
    args: list[str] = []
    missing: list[ServerModule] = []
    for module in modules:
        if not module.path:
            continue  # built into the server (Redis 8's vectorset)
        file_name = module.path.rsplit("/", 1)[-1]
        path = module.path if module.path in existing else module_dir_files.get(file_name)
        if path is None:
            missing.append(module)
            continue
        args += ["--loadmodule", path, *module.args]
    return tuple(args), missing


def missing_modules_message(server: str, missing: Sequence[ServerModule], module_dir: str | None) -> str:
    names = ", ".join(f"{module.name} ({module.path})" for module in missing)
    where = f"nor in the module directory {module_dir}" if module_dir else "and no module directory was given"
    return (
        f"{server}: the snapshot holds data of modules the restore test must load, and {names} is not at that path "
        f"on this host {where}. Copy the modules here and pass --module-dir DIR (or set {MODULE_DIR_ENV}), or accept "
        "running without a checked snapshot with --no-rdb-snapshot; nothing was written"
    )
