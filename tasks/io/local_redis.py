"""Throwaway local redis-server processes (restore tests, rehearsals, test fixtures): free loopback port,
own directory, stopped by pid."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from om_runbook.migrations.errors import RunbookError
from om_runbook.tasks.io.local_process import end_with_parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RedisServer:
    port: int
    directory: Path
    process: subprocess.Popen
    password: str | None = None
    extra_args: tuple[str, ...] = field(default=())
    binary: str = "redis-server"

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_redis_server(
    directory: Path,
    *args: str,
    password: str | None = None,
    port: int | None = None,
    binary: str = "redis-server",
    ends_with_thread: bool = False,
) -> RedisServer:
    """Start `binary` (redis-server) on `port` (default: a free loopback port) with its files in `directory`; wait
    until it answers. A fixed port is for restarting a server in place. With `ends_with_thread` it is stopped when the
    calling thread ends, even by a `kill -9` of this process (om-runbook's own throwaway servers)."""
    if shutil.which(binary) is None:
        raise RunbookError(f"{binary} is not installed: run `make setup` (apt-get install redis-server)")
    directory.mkdir(parents=True, exist_ok=True)
    fixed_port = port
    for _attempt in range(5):
        port = fixed_port or free_port()
        command = [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(directory),
            "--save", "",
            "--appendonly", "no",
            "--repl-diskless-sync-delay", "0",
            "--daemonize", "no",
            "--logfile", str(directory / "redis.log"),
        ]  # fmt: skip
        if password:
            command += ["--requirepass", password]
        process = subprocess.Popen(
            [*command, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=end_with_parent if ends_with_thread else None,  # noqa: PLW1509 - one prctl call, no locks
        )
        server = RedisServer(port, directory, process, password, tuple(args), binary)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            try:
                server.client().ping()
                return server
            except redis.BusyLoadingError:  # a snapshot loading: as long as it takes, while the server lives
                deadline = time.monotonic() + 10
                time.sleep(0.02)
            except redis.ConnectionError:
                time.sleep(0.02)
        server.stop()
    log = (directory / "redis.log").read_text(errors="replace") if (directory / "redis.log").exists() else ""
    raise RunbookError(f"a local redis-server did not start in {directory}: {log[-2000:]}")


def reap_all(servers: list[RedisServer]) -> None:
    for server in servers:
        server.stop()
    for server in servers:
        if server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGKILL)
