"""The compare-and-set script on both servers: convert, remove the '' that meant None, and back, idempotently."""

from __future__ import annotations

from om_runbook.migrations.backup_format import FieldChange, KeyBackup, encode_line, parse_line
from om_runbook.tasks.io.redis_nodes import single_server
from om_runbook.tasks.writer.cas import apply_batch, load_cas_script

KEY = b":app.Session:1"


def _line(*changes: FieldChange) -> list[str | None]:
    return parse_line(encode_line(KeyBackup(KEY, "d" * 32, changes)))


def test_cas_removes_an_empty_none_and_the_rollback_puts_it_back_byte_for_byte(any_redis_server):
    client = any_redis_server.client()
    client.hset(KEY, mapping={b"pk": b"1", b"started_at": b"2023-12-01T14:30:22", b"ended_at": b""})
    script = load_cas_script(single_server(client))
    line = _line(
        FieldChange(b"started_at", b"2023-12-01T14:30:22", b"1701441022.0"),
        FieldChange(b"ended_at", b"", None),
    )

    first = apply_batch(client, script, [line], forward=True)
    assert first.outcomes == {"written": 2}
    assert client.hgetall(KEY) == {b"pk": b"1", b"started_at": b"1701441022.0"}
    assert apply_batch(client, script, [line], forward=True).outcomes == {"already": 2}  # a replayed batch

    back = apply_batch(client, script, [line], forward=False)
    assert back.outcomes == {"written": 2}
    assert client.hgetall(KEY) == {b"pk": b"1", b"started_at": b"2023-12-01T14:30:22", b"ended_at": b""}
    assert apply_batch(client, script, [line], forward=False).outcomes == {"already": 2}


def test_cas_never_removes_or_overwrites_a_value_the_application_wrote(any_redis_server):
    client = any_redis_server.client()
    client.hset(KEY, mapping={b"pk": b"1", b"ended_at": b"1701441022.5"})  # the application set it since the backup
    script = load_cas_script(single_server(client))
    line = _line(FieldChange(b"ended_at", b"", None))

    result = apply_batch(client, script, [line], forward=True)
    assert result.outcomes == {"conflict": 1} and result.conflicts == [(KEY, b"ended_at", "conflict")]
    assert client.hget(KEY, b"ended_at") == b"1701441022.5"

    client.hdel(KEY, b"ended_at")
    client.hset(KEY, b"ended_at", b"1701441099.0")  # after our removal, the application wrote a value
    assert apply_batch(client, script, [line], forward=False).outcomes == {"conflict": 1}  # rollback leaves it
    assert client.hget(KEY, b"ended_at") == b"1701441099.0"


def test_a_json_document_is_written_whole_only_while_unchanged_since_its_backup(redis_stack_server):
    from om_runbook.migrations.json_plan import document_digest

    client = redis_stack_server.client()
    text = '{"pk":"1","at":"2023-12-01T14:30:22Z","history":["2023-12-01"],"note":"x"}'
    client.execute_command("JSON.SET", KEY, "$", text)
    raw = client.execute_command("JSON.GET", KEY)
    changes = (
        FieldChange(b"$.at", b'"2023-12-01T14:30:22Z"', b"1701441022.0"),
        FieldChange(b"$.history[0]", b'"2023-12-01"', b"1701388800.0"),
    )
    line = parse_line(encode_line(KeyBackup(KEY, document_digest(raw, changes), changes)))
    script = load_cas_script(single_server(client))

    client.execute_command("JSON.SET", KEY, "$.note", '"changed by the application"')
    refused = apply_batch(client, script, [line], forward=True)
    assert refused.outcomes == {"conflict": 2}  # the document changed since its backup: nothing written
    assert client.execute_command("JSON.GET", KEY, "$.at") == b'["2023-12-01T14:30:22Z"]'

    client.execute_command("JSON.SET", KEY, "$.note", '"x"')  # back as backed up
    assert apply_batch(client, script, [line], forward=True).outcomes == {"written": 2}
    assert client.execute_command("JSON.GET", KEY, "$.at") == b"[1701441022.0]"
    assert apply_batch(client, script, [line], forward=True).outcomes == {"already": 2}  # a replayed batch

    assert apply_batch(client, script, [line], forward=False).outcomes == {"written": 2}
    assert client.execute_command("JSON.GET", KEY) == raw  # the exact document text
    assert apply_batch(client, script, [line], forward=False).outcomes == {"already": 2}

    client.delete(KEY)
    assert apply_batch(client, script, [line], forward=True).outcomes == {"missing": 2}


def test_a_user_who_may_not_write_json_documents_is_refused_before_any_write(redis_stack_server):
    import pytest
    import redis

    from om_runbook.migrations.errors import RedisAccessError
    from om_runbook.tasks.guards.permissions import require_permissions

    admin = redis_stack_server.client()
    admin.acl_setuser("reader", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-json.set"])
    user = redis.Redis(host="127.0.0.1", port=redis_stack_server.port, username="reader", password="pw")
    with pytest.raises(RedisAccessError, match=r"JSON\.SET \(compare-and-set of JSON documents under :app\.Doc:\)"):
        require_permissions(user, [], [":app.Doc:"])
    assert "every needed command allowed" in require_permissions(admin, [], [":app.Doc:"])
