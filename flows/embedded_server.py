"""A Prefect server for one `om-runbook` command when no PREFECT_API_URL is configured: started at once so its
cold start overlaps the command's own set-up, its logs in a file (never in the terminal), stopped at the end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import prefect
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

from om_runbook.migrations.errors import ConfigurationError
from om_runbook.tasks.io.local_process import end_with_parent
from om_runbook.tasks.io.local_redis import free_port

STARTUP_TIMEOUT_SECONDS = 180.0  # a first start on a fresh PREFECT_HOME builds its database
LOG_NAME = "om-runbook-embedded-server.log"


def configured_api_url() -> str | None:
    return PREFECT_API_URL.value() or None


def server_log_path() -> Path:
    return get_current_settings().home / LOG_NAME


class EmbeddedServer:
    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        env = os.environ | {
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": os.environ.get("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
        }
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--app-dir", str(Path(prefect.__file__).parent.parent)),
                *("--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1"),
                *("--port", str(self.port), "--log-level", "error", "--lifespan", "on"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            env=env,
            preexec_fn=end_with_parent,  # noqa: PLW1509 - one prctl call, no locks
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ConfigurationError(
                        f"the embedded Prefect server exited with code {self.process.returncode}: see {self.log_path}"
                    )
                try:
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise ConfigurationError(
            f"the embedded Prefect server did not answer within {timeout:.0f} s (see {self.log_path}); start one with "
            "`prefect server start` and export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _drain_to_server(timeout: float = 5.0) -> None:
    """The run's last log lines and events reach the server before it stops (else: 'Error logging to API')."""
    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout)


@contextmanager
def prefect_api(log_path: Path | None = None) -> Iterator[EmbeddedServer | None]:
    """The configured Prefect API, else an embedded server (yielded; `wait_ready()` before the first flow)."""
    if configured_api_url():
        yield None
        return
    server = EmbeddedServer(log_path or server_log_path())
    # Threads that Prefect did not start (and their clients) read the environment, not this thread's settings
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            try:
                yield server
            finally:  # a failed or refused run's logs too, so that its last line is our own error
                _drain_to_server()
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
