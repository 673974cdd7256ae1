"""Bad input, one test per kind: each asserts the message the user gets and that nothing was lost.

Record-level kinds share one run over one Redis holding all of them (plus ordinary records): each is
reported with its own message, left unchanged unless convertible, and given back byte for byte by the
rollback. Configuration and environment kinds are refused before any write: Redis is unchanged and no
backup is left behind.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from om_runbook.flows.cli import PASSWORD_IN_ARGV_NOTE, main
from om_runbook.flows.migration_flow import migration_flow
from om_runbook.flows.rollback_flow import rollback_flow
from om_runbook.migrations.codec import describe_raw
from om_runbook.migrations.errors import BackupError, RedisAccessError
from om_runbook.migrations.report import RunReport
from om_runbook.tasks import backup, first_scan
from om_runbook.tasks.io.local_redis import RedisServer, free_port, reap_all, start_redis_server
from tests.faults.tmpfs import mounted_tmpfs
from tests.flows.helpers import keyspace, seed, settings_for
from tests.flows.test_migration_flow import expected_bytes

# a group of its own: its module-scoped shared run (a whole migration and rollback) is made once, on one worker
pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.xdist_group("bad-input")]
CUSTOMER = b":om_runbook.migrations.sample_models.Customer:"
LEGACY = b"2021-06-30T23:59:59.999999"
CONVERTED = expected_bytes(LEGACY)


@dataclass(frozen=True)
class RecordCase:
    key: bytes
    create: Callable[[redis.Redis, bytes], object]
    problem: str | None  # the report's problem kind for this key; None: converted, no problem
    message: str = ""  # a fragment of the problem's message
    converted_fields: tuple[bytes, ...] = ()  # fields expected to hold CONVERTED after the run


def _hash(**fields: bytes) -> Callable[[redis.Redis, bytes], object]:
    return lambda client, key: client.hset(key, mapping={name.encode(): value for name, value in fields.items()})


COMPLETE = {"name": b"odd", "email": b"odd@example.com"}  # the model's other required fields
RECORD_CASES = {
    "unparseable text": RecordCase(
        CUSTOMER + b"bad-text", _hash(signed_up=b"next tuesday"), "unparseable", "not an ISO 8601 date or datetime"
    ),
    "empty string": RecordCase(
        CUSTOMER + b"bad-empty", _hash(signed_up=b""), "empty", "empty string in a field that is not Optional"
    ),
    "whitespace only": RecordCase(
        CUSTOMER + b"bad-blank", _hash(signed_up=b" \t "), "unparseable", "leading or trailing whitespace"
    ),
    "binary junk": RecordCase(
        CUSTOMER + b"bad-binary", _hash(signed_up=b"\x00\x01\xfe\xff\x80"), "unparseable", "not UTF-8 text"
    ),
    "non-UTF-8 text": RecordCase(
        CUSTOMER + b"bad-latin1", _hash(signed_up=LEGACY[:19] + b"\xe9"), "unparseable", "not UTF-8 text"
    ),
    "impossible calendar date": RecordCase(
        CUSTOMER + b"bad-feb30", _hash(signed_up=b"2023-02-30T10:00:00"), "unparseable", "day is out of range"
    ),
    "number outside the datetime range": RecordCase(
        CUSTOMER + b"bad-1e300", _hash(signed_up=b"1e300"), "unparseable", "outside"
    ),
    "'never' sentinel 9999-12-31T23:59:59.999999": RecordCase(
        CUSTOMER + b"bad-never",
        _hash(signed_up=b"9999-12-31T23:59:59.999999"),
        "unparseable",
        "does not read back as the same instant",
    ),
    "time of day in a date field": RecordCase(
        CUSTOMER + b"bad-birthday",
        _hash(birthday=b"1990-05-17T08:00:00", signed_up=LEGACY),
        "unparseable",
        "a datetime with a time of day in a date field",
        converted_fields=(b"signed_up",),
    ),
    "huge value (1 MB)": RecordCase(
        CUSTOMER + b"bad-huge",
        _hash(signed_up=b"2" * 1_000_000, last_login=LEGACY),
        "unparseable",
        "outside",
        converted_fields=(b"last_login",),
    ),
    "wrong key type: string": RecordCase(
        CUSTOMER + b"bad-string", lambda c, k: c.set(k, LEGACY), "wrong_type", "holds a string, not a hash"
    ),
    "wrong key type: list": RecordCase(
        CUSTOMER + b"bad-list", lambda c, k: c.rpush(k, LEGACY), "wrong_type", "holds a list, not a hash"
    ),
    "wrong key type: stream": RecordCase(
        CUSTOMER + b"bad-stream",
        lambda c, k: c.xadd(k, {b"signed_up": LEGACY}),
        "wrong_type",
        "holds a stream, not a hash",
    ),
    "redis-om's own index hash key": RecordCase(
        CUSTOMER + b"index:hash", lambda c, k: c.set(k, b"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"), None
    ),
    "redis-om's own index schema key": RecordCase(
        CUSTOMER + b"index:schema", lambda c, k: c.set(k, b"ON HASH PREFIX 1 :x: SCHEMA pk TAG"), None
    ),
    "hash with 5,000 other fields": RecordCase(
        CUSTOMER + b"wide",
        _hash(**COMPLETE, signed_up=LEGACY, **{f"extra_{i}": b"v" * 20 for i in range(5000)}),
        None,
        converted_fields=(b"signed_up",),
    ),
    "key name with spaces and braces": RecordCase(
        CUSTOMER + b"name with spaces {and} braces",
        _hash(**COMPLETE, pk=b"name with spaces {and} braces", signed_up=LEGACY),
        None,
        converted_fields=(b"signed_up",),
    ),
    "binary key name": RecordCase(
        CUSTOMER + b"{tag}\xff\xfe\x00pk", _hash(**COMPLETE, signed_up=LEGACY), None, converted_fields=(b"signed_up",)
    ),
    "key expiring during the run": RecordCase(
        CUSTOMER + b"expiring", _hash(signed_up=LEGACY), "missing", "field or key deleted since the backup"
    ),
}
EXPIRING = RECORD_CASES["key expiring during the run"].key


@dataclass
class SharedRun:
    before: dict[bytes, object]
    after_migration: dict[bytes, object]
    after_rollback: dict[bytes, object]
    report: RunReport
    rollback: RunReport


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> Iterator[SharedRun]:
    directory = tmp_path_factory.mktemp("bad-input")
    server = start_redis_server(directory / "redis")
    try:
        client = server.client()
        seed(client, 300)
        for case in RECORD_CASES.values():
            case.create(client, case.key)
        before = keyspace(client)
        original_backup = first_scan.assess_and_back_up

        def backup_then_expire(*args, **kwargs):
            result = original_backup(*args, **kwargs)
            client.pexpire(EXPIRING, 1)  # backed up, then gone before its write: a real expiry
            return result

        settings = settings_for(server.url, directory / "backup", max_error_rate=0.5)  # bad input is dense here
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(first_scan, "assess_and_back_up", backup_then_expire)
            report = migration_flow(settings)
        after_migration = keyspace(client)
        rollback = rollback_flow(settings.redis_url, settings.backup_dir)
        yield SharedRun(before, after_migration, keyspace(client), report, rollback)
    finally:
        reap_all([server])


@pytest.mark.parametrize("name", RECORD_CASES)
def test_record_level_bad_input_is_reported_and_nothing_is_lost(shared_run: SharedRun, name: str):
    case = RECORD_CASES[name]
    assert shared_run.report.status == "succeeded", shared_run.report.messages
    found = [p for p in shared_run.report.problems if p.key == describe_raw(case.key)]
    if case.problem is None:
        # a non-UTF-8 pk is out of redis-om's reach: the Model.get() sample leaves it out instead of failing on it
        assert found == []
    else:
        assert any(p.kind == case.problem and case.message in p.message for p in found), found
        assert all(len(p.value or "") < 200 for p in found)  # a huge value is described, not copied
    if case.key == EXPIRING:
        assert case.key not in shared_run.after_migration and case.key not in shared_run.after_rollback
        return
    kind, old, ttl = shared_run.before[case.key]
    new_kind, new, new_ttl = shared_run.after_migration[case.key]
    assert (new_kind, new_ttl) == (kind, ttl)
    if kind == b"hash":
        for field, value in old.items():
            assert new[field] == (CONVERTED if field in case.converted_fields else value), field
    else:
        assert new == old
    assert shared_run.rollback.status == "rolled_back", shared_run.rollback.messages
    assert shared_run.after_rollback[case.key] == shared_run.before[case.key]


def test_the_shared_run_leaves_every_other_key_as_it_was_after_rollback(shared_run: SharedRun):
    expected = {key: value for key, value in shared_run.before.items() if key != EXPIRING}
    assert shared_run.after_rollback == expected


# --- refused before any write -------------------------------------------------------------------------


def _seeded(server: RedisServer) -> tuple[RedisServer, dict[bytes, object]]:
    seed(server.client(), 200)
    return server, keyspace(server.client())


@pytest.fixture
def seeded(redis_server: RedisServer) -> tuple[RedisServer, dict[bytes, object]]:
    return _seeded(redis_server)


def _run_cli(
    url: str, backup_dir: Path, capsys: pytest.CaptureFixture[str], models: str = "om_runbook.migrations.sample_models"
):
    """The command's exit code and its stderr, without the note a password in --redis-url prints first."""
    code = main(["run", "--redis-url", url, "--models", models, "--auto-approve", "--backup-dir", str(backup_dir)])
    err = capsys.readouterr().err
    return code, err.removeprefix(PASSWORD_IN_ARGV_NOTE + "\n")


def _write_module(directory: Path, name: str, source: str, monkeypatch: pytest.MonkeyPatch) -> str:
    (directory / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(directory))
    return name


MODELS_MODULES = {
    "a syntax error": ("class Customer(:\n", "cannot import models module 'bad_models_0': SyntaxError"),
    "an import that fails": (
        "import no_such_dependency_xyz\n",
        "ModuleNotFoundError: No module named 'no_such_dependency_xyz'",
    ),
    "sys.exit(0) at import": ("import sys\nsys.exit(0)\n", "the models module exited at import (sys.exit(0))"),
    "no datetime fields": (
        "from redis_om import HashModel\n\nclass Plain(HashModel, index=True):\n    name: str\n",
        "no redis-om HashModel/JsonModel with datetime",
    ),
}


@pytest.mark.parametrize("case", MODELS_MODULES)
def test_a_models_module_that_cannot_be_migrated(seeded, tmp_path, monkeypatch, capsys, case):
    server, before = seeded
    source, message = MODELS_MODULES[case]
    module = _write_module(tmp_path, f"bad_models_{list(MODELS_MODULES).index(case)}", source, monkeypatch)
    code, err = _run_cli(server.url, tmp_path / "b", capsys, module)
    assert code == 2 and message in err, err
    assert keyspace(server.client()) == before and not (tmp_path / "b").exists()


def test_a_url_nobody_listens_on(tmp_path, capsys):
    code, err = _run_cli(f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0", tmp_path / "b", capsys)
    last = err.strip().splitlines()[-1]  # Prefect's own log lines come first, as in a terminal
    assert code == 2 and last.startswith("om-runbook run: error: cannot connect to Redis at redis://:***@127.0.0.1:")
    assert "Traceback" not in err and "s3cret-pass" not in err and not (tmp_path / "b").exists()


def test_a_malformed_url(tmp_path, capsys):
    code, err = _run_cli("http://user:s3cret-pass@127.0.0.1:6379/0", tmp_path / "b", capsys)
    assert code == 2 and "invalid Redis URL" in err and "s3cret-pass" not in err
    assert not (tmp_path / "b").exists()


def test_a_wrong_password(redis_server_factory, tmp_path, capsys):
    server = redis_server_factory(password="right-pass")
    seed(server.client(), 50)
    before = keyspace(server.client())
    code, err = _run_cli(f"redis://:wrong-pass@127.0.0.1:{server.port}/0", tmp_path / "b", capsys)
    assert code == 2 and "refused the credentials" in err and "wrong-pass" not in err
    assert keyspace(server.client()) == before and not (tmp_path / "b").exists()


def _acl_url(server: RedisServer, *rules: str) -> str:
    server.client().execute_command("ACL", "SETUSER", "app", "reset", "on", ">app-pass", *rules)
    return f"redis://app:app-pass@127.0.0.1:{server.port}/0"


ACL_REFUSALS = {
    "missing HSET (found by ACL DRYRUN)": (
        ("~*", "&*", "+@all", "-hset"),
        r"user 'app' may not use .*commands HSET \(compare-and-set writes .*ACL SETUSER app \+hset\)",
    ),
    "limited to other key patterns": (
        ("~:om_runbook.migrations.sample_models.Order:*", "~om-runbook:*", "&*", "+@all"),
        r"keys matching :om_runbook\.migrations\.sample_models\.Customer:\*\. Grant them "
        r"\(ACL SETUSER app ~:om_runbook\.migrations\.sample_models\.Customer:\*\)",
    ),
    "no ACL DRYRUN, missing EVALSHA (found by read-only probes)": (
        ("~*", "&*", "+@all", "-@admin", "+info", "-evalsha"),
        r"commands EVALSHA \(compare-and-set reads under .*\+evalsha",
    ),
}


@pytest.mark.parametrize("case", ACL_REFUSALS)
def test_an_acl_user_without_a_needed_permission_is_refused_before_any_write(seeded, tmp_path, case):
    server, before = seeded
    rules, message = ACL_REFUSALS[case]
    with pytest.raises(RedisAccessError, match=message):
        migration_flow(settings_for(_acl_url(server, *rules), tmp_path / "b", rdb_snapshot=False))
    assert keyspace(server.client()) == before


def test_an_acl_user_refused_hset_at_the_first_write_stops_with_the_reason_and_nothing_changed(seeded, tmp_path):
    """Without ACL DRYRUN, a refused write is found at the first write: the run stops with the reason and the
    automatic rollback leaves Redis as it was; once granted, a new run completes."""
    server, before = seeded
    url = _acl_url(server, "~*", "&*", "+@all", "-@admin", "+info", "-hset")
    report = migration_flow(settings_for(url, tmp_path / "b", rdb_snapshot=False))
    assert report.status == "rolled_back"
    assert any("refused the write for lack of permission" in m for m in report.messages), report.messages
    assert keyspace(server.client()) == before
    server.client().execute_command("ACL", "SETUSER", "app", "+hset")
    settings = settings_for(url, tmp_path / "c", rdb_snapshot=False)
    report = migration_flow(settings)
    assert report.status == "succeeded", report.messages
    assert rollback_flow(settings.redis_url, settings.backup_dir).status == "rolled_back"
    assert keyspace(server.client()) == before


def test_a_read_only_replica(redis_server_factory, tmp_path):
    primary = redis_server_factory()
    seed(primary.client(), 100)
    replica = redis_server_factory("--replicaof", "127.0.0.1", str(primary.port))
    deadline = time.monotonic() + 10
    while replica.client().dbsize() < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    before = keyspace(primary.client())
    with pytest.raises(RedisAccessError, match="is a read-only slave; point --redis-url at the primary"):
        migration_flow(settings_for(replica.url, tmp_path / "b"))
    assert keyspace(primary.client()) == before


def test_a_primary_that_refuses_writes_for_lack_of_replicas_is_refused_before_the_scan(redis_server_factory, tmp_path):
    server = redis_server_factory("--min-replicas-to-write", "1")
    client = server.client()
    client.config_set("min-replicas-to-write", "0")
    seed(client, 100)
    client.config_set("min-replicas-to-write", "1")  # now every write answers NOREPLICAS
    before = keyspace(client)
    with pytest.raises(RedisAccessError, match=r"refuses every write \(NOREPLICAS\): min-replicas-to-write asks for 1"):
        migration_flow(settings_for(server.url, tmp_path / "b"))
    assert keyspace(client) == before
    assert not (tmp_path / "b" / "manifest.json").exists()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KB tmpfs: a real file system that fills up."""
    with mounted_tmpfs(tmp_path / "small-disk", "256k") as mount_point:
        yield mount_point


def test_a_backup_directory_too_small_for_the_backup_is_refused_before_any_write(seeded, small_disk):
    server, before = seeded
    seed(server.client(), 3000, seed=1)
    before = keyspace(server.client())
    with pytest.raises(Exception, match=r"the backup directory has 0\.\d MB free; .* need about"):
        migration_flow(settings_for(server.url, small_disk / "b"))
    assert keyspace(server.client()) == before


def test_a_backup_directory_that_fills_up_during_the_backup(seeded, small_disk, monkeypatch):
    server, before = seeded
    original = backup.save_manifest

    def save_then_fill_the_disk(backup_dir: Path, manifest) -> None:
        original(backup_dir, manifest)
        if manifest.status == "in_progress":  # the chunk files are about to be written
            with open(small_disk / "filler", "wb") as filler:
                try:
                    while True:
                        filler.write(b"\0" * 4096)
                        filler.flush()
                except OSError:
                    pass

    monkeypatch.setattr(backup, "save_manifest", save_then_fill_the_disk)
    with pytest.raises(BackupError, match=r"the backup directory .* is full; free space or use another --backup-dir"):
        migration_flow(settings_for(server.url, small_disk / "b", rdb_snapshot=False))
    assert keyspace(server.client()) == before
    (small_disk / "filler").unlink()
    monkeypatch.undo()
    report = migration_flow(settings_for(server.url, small_disk / "b", rdb_snapshot=False))
    assert report.status == "succeeded", report.messages  # the incomplete backup was redone, not trusted


def test_a_read_only_backup_directory(seeded, small_disk):
    server, before = seeded
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(BackupError, match="cannot write the backup in .*Read-only file system"):
        migration_flow(settings_for(server.url, small_disk / "b", rdb_snapshot=False))
    assert keyspace(server.client()) == before


def test_a_backup_directory_of_root_or_of_other_files_is_refused_before_anything_is_written(
    any_redis_server, tmp_path, capsys
):
    server, before = _seeded(any_redis_server)
    code, err = _run_cli(server.url, Path("/"), capsys)
    assert code == 2 and "--backup-dir / is refused" in err and not Path("/status.json").exists()
    application = tmp_path / "app"
    application.mkdir()
    (application / "settings.py").write_text("DEBUG = False\n")
    code, err = _run_cli(server.url, application, capsys)
    assert code == 2 and "holds files that are not an om-runbook backup (settings.py)" in err
    assert sorted(path.name for path in application.iterdir()) == ["settings.py"]
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    code, err = _run_cli(server.url, a_file, capsys)
    assert code == 2 and "is a file, not a directory" in err
    assert keyspace(server.client()) == before


BAD_NUMBERS = {
    "--batch-size 0": "batch_size: Input should be greater than or equal to 1",
    "--batch-size -1": "batch_size: Input should be greater than or equal to 1",
    "--batch-size 1000000000": "batch_size: Input should be less than or equal to 100000",
    "--chunks 0": "chunks: Input should be greater than or equal to 1",
    "--parallel 0": "parallel: Input should be greater than or equal to 1",
    "--naive-timezone Mars/Base": "unknown --naive-timezone 'Mars/Base': use an IANA name",
}


@pytest.mark.parametrize("flag", BAD_NUMBERS)
def test_a_bad_number_or_zone_on_the_command_line_is_refused_before_redis_is_touched(tmp_path, capsys, flag):
    argv = ["run", "--redis-url", "redis://127.0.0.1:1/0", "--models", "om_runbook.migrations.sample_models"]
    code = main([*argv, "--auto-approve", "--backup-dir", str(tmp_path / "b"), *flag.split()])
    err = capsys.readouterr().err
    assert code == 2 and BAD_NUMBERS[flag] in err and "Traceback" not in err, err
    assert not (tmp_path / "b").exists()


GLOB_MODELS = """
import datetime
from redis_om import HashModel


class Event(HashModel):
    at: datetime.datetime

    class Meta:
        global_key_prefix = "shop"
        model_key_prefix = "ev[*]?"
"""


def test_a_model_prefix_with_glob_characters_matches_only_itself_and_a_backup_dir_with_spaces_and_umlauts(
    any_redis_server, tmp_path, monkeypatch, capsys
):
    client = any_redis_server.client()
    client.hset("shop:ev[*]?:1", mapping={"pk": "1", "at": "2023-12-01T14:30:22"})
    for lookalike in ("shop:ev*?:2", "shop:ev*X:3", "shop:ev[*]X:4"):  # an unescaped MATCH takes the first two
        client.hset(lookalike, mapping={"pk": "x", "at": "2023-12-01T14:30:22"})
    before = keyspace(client)
    module = _write_module(tmp_path, "glob_models", GLOB_MODELS, monkeypatch)
    backup_dir = tmp_path / "back ups" / "bäckup 1"

    code, err = _run_cli(any_redis_server.url, backup_dir, capsys, module)

    assert code == 0, err
    assert float(client.hget("shop:ev[*]?:1", "at")) == 1701441022.0
    after = keyspace(client)
    assert {key for key in after if after[key] != before[key]} == {b"shop:ev[*]?:1"}  # no lookalike touched
    assert main(["rollback", "--redis-url", any_redis_server.url, "--backup-dir", str(backup_dir)]) == 0
    assert keyspace(client) == before
