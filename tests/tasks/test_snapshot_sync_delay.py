"""The snapshot's SYNC does not wait the server's `repl-diskless-sync-delay` (5 s by default) when CONFIG SET is
allowed; the delay is restored after it, and where it cannot be lowered (or restored) the snapshot's note says so.
The server's own log says whether it delayed the fork: no timing is asserted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from om_runbook.tasks.backup_store.snapshot import SyncDelay, snapshot_nodes
from om_runbook.tasks.io.local_redis import RedisServer, reap_all
from om_runbook.tasks.io.redis_nodes import open_nodes
from tests.flows.helpers import seed

DELAYED = "Delay next BGSAVE for diskless SYNC"


def _delay(server: RedisServer) -> str:
    return server.client().config_get("repl-diskless-sync-delay")["repl-diskless-sync-delay"]


def _app_url(server: RedisServer, *rules: str) -> str:
    server.client().execute_command("ACL", "SETUSER", "app", "reset", "on", ">app-pass", "~*", "&*", "+@all", *rules)
    return f"redis://app:app-pass@127.0.0.1:{server.port}/0"


def _snapshot(url: str, directory: Path):
    return snapshot_nodes(open_nodes(url), directory)


def test_the_servers_default_sync_delay_is_not_waited_and_is_restored(
    any_redis_start: Callable[..., RedisServer], tmp_path: Path
) -> None:
    server = any_redis_start(tmp_path / "source", "--repl-diskless-sync-delay", "5")  # Redis's own default
    try:
        seed(server.client(), 100)
        info = _snapshot(server.url, tmp_path / "rdb")
        assert info.check_passed and info.restore_tested and info.restored_keys == 100
        assert "repl-diskless-sync-delay of 5 s set to 0 for this SYNC and restored" in info.note
        assert _delay(server) == "5"
        log = (server.directory / "redis.log").read_text()
        assert "BGSAVE for SYNC with target: replicas sockets" in log
        assert DELAYED not in log
    finally:
        reap_all([server])


@pytest.mark.parametrize(
    ("rules", "said"),
    [
        (("-config|set",), "the SYNC waited the server's repl-diskless-sync-delay of 1 s (CONFIG SET: "),
        (("-config",), "the server's repl-diskless-sync-delay unread ("),
    ],
)
def test_where_config_is_refused_the_snapshot_waits_the_delay_and_says_so(
    any_redis_start: Callable[..., RedisServer], tmp_path: Path, rules: tuple[str, ...], said: str
) -> None:
    server = any_redis_start(tmp_path / "source", "--repl-diskless-sync-delay", "1")
    try:
        seed(server.client(), 50)
        info = _snapshot(_app_url(server, *rules), tmp_path / "rdb")
        assert info.check_passed and info.restore_tested
        assert said in info.note and "no permissions" in info.note
        assert _delay(server) == "1"
        assert DELAYED in (server.directory / "redis.log").read_text()
    finally:
        reap_all([server])


def test_a_delay_that_cannot_be_restored_is_in_the_note_with_the_command_that_restores_it(
    any_redis_start: Callable[..., RedisServer], tmp_path: Path
) -> None:
    server = any_redis_start(tmp_path / "source", "--repl-diskless-sync-delay", "5")
    try:
        delay = SyncDelay(open_nodes(_app_url(server)).nodes[0].client)
        delay.lower()
        assert _delay(server) == "0"
        _app_url(server, "-config|set")  # the grant taken away before the restore

        delay.restore()

        assert "set to 0 for this SYNC and NOT restored" in delay.note and "no permissions" in delay.note
        assert delay.note.endswith("run CONFIG SET repl-diskless-sync-delay 5")
        delay.restore()  # once only: the note stays
        assert delay.note.endswith("run CONFIG SET repl-diskless-sync-delay 5")
    finally:
        reap_all([server])
