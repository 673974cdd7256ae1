from __future__ import annotations

from collections import Counter
from zoneinfo import ZoneInfo

from om_runbook.flows.cli import main
from om_runbook.migrations.codec import ValueClass, classify_value
from om_runbook.migrations.targets import discover_targets


def classify_all(client) -> Counter:
    counts: Counter = Counter()
    for target in discover_targets("om_runbook.migrations.sample_models"):
        for key in client.scan_iter(match=target.key_prefix.encode() + b"*", count=1000):
            stored = client.hgetall(key)
            assert stored[b"pk"] == key.rsplit(b":", 1)[1]
            for field in target.fields:
                value = stored.get(field.name.encode())
                counts[classify_value(value, field.kind, ZoneInfo("UTC")).value_class] += 1
    return counts


def test_seed_writes_legacy_records_in_redis_om_0_format(redis_server, capsys):
    assert main(["seed", "--redis-url", redis_server.url, "--count", "2000"]) == 0
    client = redis_server.client()
    assert client.dbsize() == 2000
    counts = classify_all(client)
    assert set(counts) <= {
        ValueClass.LEGACY_NAIVE,
        ValueClass.LEGACY_AWARE,
        ValueClass.LEGACY_DATE,
        ValueClass.MISSING,
    }
    assert counts[ValueClass.LEGACY_AWARE] >= 1000  # every Order.placed_at carries its offset
    assert "seeded 2000 legacy records (0 dirty)" in capsys.readouterr().out


def test_seed_dirty_share_writes_values_0x_never_wrote(redis_server):
    assert main(["seed", "--redis-url", redis_server.url, "--count", "3000", "--dirty-share", "0.05"]) == 0
    counts = classify_all(redis_server.client())
    assert counts[ValueClass.UNPARSEABLE] + counts[ValueClass.EMPTY] > 50


def test_seed_reports_a_wrong_password_without_printing_it(redis_server_factory, capsys):
    server = redis_server_factory(password="right-one")
    url = f"redis://:wrong-secret@127.0.0.1:{server.port}/0"
    assert main(["seed", "--redis-url", url, "--count", "1"]) == 2
    err = capsys.readouterr().err
    assert "refused the credentials" in err and "wrong-secret" not in err
    assert server.client().dbsize() == 0


def test_seed_reports_an_unreachable_server(capsys):
    from om_runbook.tasks.io.local_redis import free_port

    assert main(["seed", "--redis-url", f"redis://127.0.0.1:{free_port()}", "--count", "1"]) == 2
    assert "cannot connect to Redis at redis://127.0.0.1" in capsys.readouterr().err


def test_the_progress_meter_counts_every_seeded_record_the_last_partial_batch_too(redis_server):
    from om_runbook.migrations.sample_data import generate_legacy_records
    from om_runbook.tasks.io.progress_meter import METER
    from om_runbook.tasks.io.redis_nodes import single_server
    from om_runbook.tasks.writer.seed import write_legacy_records

    METER.begin("seed legacy records", 2500)
    write_legacy_records(single_server(redis_server.client()), generate_legacy_records(2500, 0.0, 0), batch_size=1000)
    progress = METER.progress()
    assert progress is not None and (progress.done, progress.total) == (2500, 2500)
