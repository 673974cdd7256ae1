"""The embedded Prefect server's failures are one clear message that names its log file, never a traceback."""

from __future__ import annotations

import pytest

from om_runbook.flows.embedded_server import EmbeddedServer
from om_runbook.migrations.errors import ConfigurationError


def test_a_server_that_exits_during_start_up_names_its_log(tmp_path):
    server = EmbeddedServer(tmp_path / "server.log")
    try:
        server.process.kill()
        server.process.wait(timeout=10)
        with pytest.raises(ConfigurationError, match=r"exited with code -9: see .*server\.log"):
            server.wait_ready()
    finally:
        server.stop()


def test_a_server_that_does_not_answer_in_time_says_how_to_start_one(tmp_path):
    server = EmbeddedServer(tmp_path / "server.log")
    try:
        with pytest.raises(ConfigurationError, match=r"did not answer within 0 s .*prefect server start"):
            server.wait_ready(timeout=0.0)
    finally:
        server.stop()
    assert server.process.poll() is not None  # stopped, not left behind
