"""One real `prefect server start` with its UI for the deployment and browser tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from om_runbook.tasks.io.local_redis import free_port
from tests.deployments.prefect_processes import BIN, ROOT, prefect_cli, stop, wait_healthy


# session, not package: a package fixture is torn down whenever its worker runs a test of another package in
# between, and nothing makes the "prefect-server" group's tests run back to back (a start takes about 20 s)
@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One `prefect server start` (with its UI) for this package, with the work pool and every deployment."""
    tmp_path = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",  # else the UI in a browser cannot reach the API
        "PREFECT_UI_URL": f"http://127.0.0.1:{port}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "OM_RUNBOOK_HOME": str(ROOT),
    }
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed at teardown
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_healthy(env["PREFECT_API_URL"], server)
        prefect_cli(env, "work-pool", "create", "om-runbook", "--type", "process")
        prefect_cli(env, "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
        yield env
    finally:
        stop(server)
        log.close()
