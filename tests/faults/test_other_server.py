"""A backup directory used against another Redis: the rollback, the verification and a resumed run refuse it
before any write (the manifest records the server's run_id and address); forced with --other-server, a rollback
that finds none of the keys is never a success."""

from __future__ import annotations

import json

import pytest

from om_runbook.flows.cli import main
from tests.flows.helpers import keyspace, seed

pytestmark = pytest.mark.usefixtures("prefect_harness")
MODELS = ["--models", "om_runbook.migrations.sample_models"]


def test_rollback_verify_and_resume_refuse_another_server(any_redis_server, redis_server_factory, tmp_path, capsys):
    source, other = any_redis_server, redis_server_factory()
    seed(source.client(), 1_000)
    before = keyspace(source.client())
    backup = str(tmp_path / "backup")
    assert main(["run", "--redis-url", source.url, *MODELS, "--backup-dir", backup, "--auto-approve",
                 "--no-rdb-snapshot"]) == 0  # fmt: skip
    migrated = keyspace(source.client())
    capsys.readouterr()

    for argv in (
        ["rollback", "--redis-url", other.url, "--backup-dir", backup],
        ["verify", "--redis-url", other.url, "--backup-dir", backup],
        ["run", "--redis-url", other.url, *MODELS, "--backup-dir", backup, "--auto-approve", "--no-rdb-snapshot"],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"holds the backup of the Redis at 127.0.0.1:{source.port}" in err, err
        assert f"targets 127.0.0.1:{other.port}" in err and "--other-server" in err
    assert keyspace(other.client()) == {}
    assert keyspace(source.client()) == migrated

    forced = tmp_path / "forced.json"
    assert main(["rollback", "--redis-url", other.url, "--backup-dir", backup, "--other-server",
                 "--report-json", str(forced)]) == 1  # fmt: skip
    report = json.loads(forced.read_text())
    assert report["status"] == "rollback_incomplete"
    assert any("none of the" in message and "nothing was restored" in message for message in report["messages"])
    assert json.loads((tmp_path / "backup" / "manifest.json").read_text())["status"] == "complete"

    assert main(["rollback", "--redis-url", source.url, "--backup-dir", backup]) == 0
    assert keyspace(source.client()) == before
