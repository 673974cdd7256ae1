"""The compare-and-set script on both servers: convert, remove the '' that meant None, and back, idempotently."""

from __future__ import annotations

from om_runbook.migrations.backup_format import FieldChange, KeyBackup, encode_line, parse_line
from om_runbook.tasks.io.redis_nodes import single_server
from om_runbook.tasks.writer import cas
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


def test_several_keys_in_one_call_give_each_key_its_own_outcome_and_error(any_redis_server):
    """Without cluster a batch's hash lines go up to KEYS_PER_CALL keys to a script call: each key keeps the outcome a
    call of its own gives it (written, already, conflict, missing, a key of another type), a JSON document's line
    between them is a call of its own, and a write Redis refuses is that key's error, not its neighbours'."""
    client = any_redis_server.client()
    script = load_cas_script(single_server(client))
    assert script.several_text  # a server without cluster
    client.hset("k:written", mapping={"at": "2021-01-01T00:00:00", "other": "x"})
    client.hset("k:already", mapping={"at": "1609459200"})
    client.hset("k:conflict", mapping={"at": "changed by the application"})
    client.set("k:string", "not a hash any more")
    lines = [
        ["k:written", "d", "at", "2021-01-01T00:00:00", "1609459200"],
        ["k:already", "d", "at", "2021-01-01T00:00:00", "1609459200"],
        ["k:conflict", "d", "at", "2021-01-01T00:00:00", "1609459200"],
        ["k:gone", "d", "at", "2021-01-01T00:00:00", "1609459200"],
        ["k:string", "d", "at", "2021-01-01T00:00:00", "1609459200"],
    ]
    commands, spans = cas._commands(script, lines, forward=True)
    assert spans == [5] and len(commands) == 1
    result = apply_batch(client, script, lines, forward=True)
    assert result.outcomes == {"written": 1, "already": 1, "conflict": 2, "missing": 1}
    assert {(key, outcome) for key, _field, outcome in result.conflicts} == {
        (b"k:conflict", "conflict"), (b"k:gone", "missing"), (b"k:string", "conflict")
    }  # fmt: skip
    assert client.hgetall("k:written") == {b"at": b"1609459200", b"other": b"x"}
    assert client.get("k:string") == b"not a hash any more"

    back = apply_batch(client, script, lines, forward=False)
    assert back.outcomes == {"written": 2, "conflict": 2, "missing": 1}  # k:already held the target: restored too
    assert client.hgetall("k:written") == {b"at": b"2021-01-01T00:00:00", b"other": b"x"}

    many = [[f"m:{i}", "d", "at", "2021-01-01T00:00:00", "1609459200"] for i in range(cas.KEYS_PER_CALL + 3)]
    assert cas._commands(script, many, forward=True)[1] == [cas.KEYS_PER_CALL, 3]
    mixed = [lines[0], ["j:doc", "json:" + "0" * 40, "$.at", '"x"', "1"], lines[1], lines[2]]
    assert cas._commands(script, mixed, forward=True)[1] == [1, 1, 2]


def test_a_write_refused_inside_a_several_keys_call_is_that_keys_error(any_redis_server):
    client = any_redis_server.client()
    script = load_cas_script(single_server(client))
    for i in range(3):
        client.hset(f"k:{i}", mapping={"at": "2021-01-01T00:00:00"})
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "1")  # every write refused: OOM
    try:
        lines = [[f"k:{i}", "d", "at", "2021-01-01T00:00:00", "1609459200"] for i in range(3)]
        result = apply_batch(client, script, lines, forward=True)
    finally:
        client.config_set("maxmemory", "0")
    assert not result.outcomes
    assert [key for key, _message in result.errors] == [b"k:0", b"k:1", b"k:2"]
    assert all("used memory > 'maxmemory'" in message for _key, message in result.errors)
    assert all(client.hget(f"k:{i}", "at") == b"2021-01-01T00:00:00" for i in range(3))
