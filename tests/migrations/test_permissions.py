from __future__ import annotations

from om_runbook.migrations.permissions import NeededCommand, denial_message, is_key_denial, needed_commands

PREFIXES = [":app.Customer:", ":app.Order:"]


def test_every_model_prefix_gets_reads_and_compare_and_set_with_its_key_pattern():
    commands = needed_commands(PREFIXES, "om-runbook:lease")
    for prefix in PREFIXES:
        mine = [c for c in commands if c.key_pattern == prefix + "*"]
        assert [c.label for c in mine] == ["TYPE", "HGETALL", "EVALSHA", "HGET", "HSET", "HDEL"]
        assert all(prefix + "om-runbook-permission-check" in c.args for c in mine)
    lease = [c.label for c in commands if c.key_pattern == "om-runbook:lease"]
    assert lease == ["SET", "EVAL"]
    assert {"PING", "INFO memory", "SCAN", "SCRIPT LOAD"} <= {c.label for c in commands}


def test_no_models_still_needs_the_global_commands_and_the_lease():
    assert len(needed_commands([], "om-runbook:lease")) == 8


def test_a_refused_command_names_its_purpose_and_the_grant():
    hset = NeededCommand(("HSET", "k", "f", "v"), "compare-and-set writes under :app.Customer:", ":app.Customer:*")
    load = NeededCommand(("SCRIPT", "LOAD", "return 1"), "loading the compare-and-set script")
    message = denial_message(
        "app", [(hset, "This user has no permissions to run the 'hset' command"), (load, "no permissions")]
    )
    assert message == (
        "the Redis user 'app' may not use what the migration needs: commands HSET (compare-and-set writes under "
        ":app.Customer:), SCRIPT LOAD (loading the compare-and-set script). Grant them (ACL SETUSER app +hset "
        "+script|load) and run again; nothing was written"
    )


def test_a_renamed_sync_names_the_option_that_does_without_it_and_no_grant():
    sync = next(c for c in needed_commands([], "om-runbook:lease", snapshot=True) if c.label == "SYNC")
    assert "SYNC" not in {c.label for c in needed_commands([], "om-runbook:lease")}
    renamed = denial_message("app", [(sync, "ERR Command 'SYNC' not found")])
    assert (
        "SYNC (the full RDB snapshot through the replication stream (redis-cli --rdb); renamed or disabled" in renamed
    )
    assert "ACL SETUSER" not in renamed and "Or run with --no-rdb-snapshot" in renamed
    denied = denial_message("app", [(sync, "This user has no permissions to run the 'sync' command")])
    assert "Grant them (ACL SETUSER app +sync) and run again; or run with --no-rdb-snapshot" in denied


def test_refused_keys_are_grouped_by_key_pattern():
    reason = "This user has no permissions to access the ':app.Order:x' key"
    denials = [(c, reason) for c in needed_commands([":app.Order:"], "om-runbook:lease") if c.key_pattern]
    message = denial_message("app", denials)
    assert "keys matching :app.Order:*, om-runbook:lease, om-runbook:unfinished-run." in message
    assert "ACL SETUSER app ~:app.Order:* ~om-runbook:lease ~om-runbook:unfinished-run)" in message
    assert "commands" not in message


def test_key_denials_are_told_from_command_denials():
    assert is_key_denial("This user has no permissions to access the 'k' key")
    assert is_key_denial("this user has no permissions to access one of the keys used as arguments")
    assert not is_key_denial("This user has no permissions to run the 'hset' command")


def test_field_ttl_commands_are_needed_only_where_fields_have_ttls():
    plain = {c.label for c in needed_commands(PREFIXES, "om-runbook:lease")}
    with_ttl = [c for c in needed_commands(PREFIXES, "om-runbook:lease", field_ttl=True) if c.label.startswith("HPEX")]
    assert not {"HPEXPIRETIME", "HPEXPIREAT"} & plain
    assert sorted((c.label, c.key_pattern) for c in with_ttl) == sorted(
        (label, prefix + "*") for prefix in PREFIXES for label in ("HPEXPIRETIME", "HPEXPIREAT")
    )


def test_json_model_prefixes_need_the_json_commands():
    commands = needed_commands([], "om-runbook:lease", json_prefixes=[":app.Doc:"])
    mine = [c.label for c in commands if c.key_pattern == ":app.Doc:*"]
    assert mine == ["TYPE", "EVALSHA", "JSON.GET", "JSON.SET"]
