"""Speed and memory of the migration against baselines measured in the same run, on the same redis-server.

    .venv/bin/python tests/benchmarks/migrate_benchmark.py --count 100000 [--count 1000000] [--modes ...]

Each mode runs in its own process (so peak RSS is its own) against freshly seeded legacy records:
- redis-om:  redis-om 1.2.0's own DatetimeFieldMigration.up() (sync), with its indentation defect undone
             (the methods indented into MigrationState re-attached), as a user would have to;
- naive:     a pipelined redis-py HMGET + HSET loop with datetime.fromisoformat(...).timestamp();
- migrate:   our migrate phase alone (compare-and-set from the logical backup, all chunks): no scan, no reads, no
             conversion (the backup did those), so it is NOT comparable with the naive loop;
- read-migrate: the naive loop's job done our way: scan, read, convert, write the logical backup lines, then
             compare-and-set every chunk (no assessment, no RDB snapshot, no verification, no Prefect);
- plain:     our whole pipeline (assess, RDB snapshot + restore test, backup, migrate, verify) without Prefect;
- flow:      the same as the Prefect flow `om-runbook run` executes (embedded Prefect server).
Prefect overhead = (flow - plain) / flow. "x naive" is printed only for the modes that do at least the naive loop's
work (read-migrate, plain, flow). Figures are printed, nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

MODES = ("redis-om", "naive", "migrate", "read-migrate", "plain", "flow")
LIKE_FOR_LIKE_WITH_NAIVE = ("read-migrate", "plain", "flow")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_redis_om(url: str, _work: Path) -> dict:
    os.environ["REDIS_OM_URL"] = url
    from redis_om import get_redis_connection
    from redis_om.model.migrations.data.builtin import datetime_migration as dm

    import migrations.sample_models  # noqa: F401  registers the models in redis-om's registry

    # Dedenting the methods back into DatetimeFieldMigration makes them override its earlier definitions
    # (its wrapper _convert_datetime_value recurses into itself otherwise), so they are attached over them.
    state_api = ("__init__", "save_progress", "load_progress", "clear_progress", "has_saved_progress")
    for name, member in vars(dm.MigrationState).items():
        if callable(member) and name not in state_api:
            setattr(dm.DatetimeFieldMigration, name, member)
    dm.DatetimeFieldMigration.__abstractmethods__ = frozenset()
    logging.getLogger("redis_om").setLevel(logging.WARNING)
    migration = dm.DatetimeFieldMigration(redis_client=get_redis_connection(url=url))
    started = time.perf_counter()
    migration.up()
    return {"seconds": time.perf_counter() - started}


def run_naive(url: str, _work: Path) -> dict:
    from datetime import datetime

    import redis

    client = redis.Redis.from_url(url)
    fields = {
        b":migrations.sample_models.Customer:": [b"signed_up", b"birthday", b"last_login"],
        b":migrations.sample_models.Order:": [b"placed_at", b"shipped_on", b"delivered_at"],
    }
    started = time.perf_counter()
    for prefix, names in fields.items():
        keys = list(client.scan_iter(match=prefix + b"*", count=1000))
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            pipe = client.pipeline(transaction=False)
            for key in batch:
                pipe.hmget(key, names)
            values = pipe.execute()
            pipe = client.pipeline(transaction=False)
            for key, row in zip(batch, values, strict=True):
                mapping = {}
                for name, value in zip(names, row, strict=True):
                    if value:
                        try:
                            mapping[name] = datetime.fromisoformat(value.decode()).timestamp()
                        except ValueError:
                            pass
                if mapping:
                    pipe.hset(key, mapping=mapping)
            pipe.execute()
    return {"seconds": time.perf_counter() - started}


def _settings(url: str, work: Path, **extra):
    from pydantic import SecretStr

    from migrations.config import build_settings

    values = {
        "redis_url": SecretStr(url),
        "models": "migrations.sample_models",
        "backup_dir": work / "backup",
        "auto_approve": True,
    }
    return build_settings(**values, **extra)


def run_migrate(url: str, work: Path) -> dict:
    from migrations.slots import auto_chunk_count
    from migrations.targets import discover_targets
    from tasks.backup import write_logical_backup
    from tasks.chunk_runner import ErrorPolicy, run_chunk
    from tasks.redis_io.redis_nodes import open_nodes

    settings = _settings(url, work)
    client = open_nodes(url)
    chunks = auto_chunk_count(client.clients[0].dbsize())
    manifest, _tally = write_logical_backup(client, discover_targets(settings.models), settings, "bench", chunks)
    started = time.perf_counter()
    for chunk in manifest.chunks:
        run_chunk(client, settings.backup_dir, chunk, "migrate", settings.batch_size, ErrorPolicy("log_and_skip", None),
                  logging.getLogger("bench"))  # fmt: skip
    return {"seconds": time.perf_counter() - started, "fields": manifest.fields_changed}


def run_read_migrate(url: str, work: Path) -> dict:
    from migrations.slots import auto_chunk_count
    from migrations.targets import discover_targets
    from tasks.backup import write_logical_backup
    from tasks.chunk_runner import ErrorPolicy, run_chunk
    from tasks.redis_io.redis_nodes import open_nodes

    settings = _settings(url, work)
    started = time.perf_counter()
    client = open_nodes(url)
    chunks = auto_chunk_count(client.clients[0].dbsize())
    manifest, _tally = write_logical_backup(client, discover_targets(settings.models), settings, "bench", chunks)
    for chunk in manifest.chunks:
        run_chunk(client, settings.backup_dir, chunk, "migrate", settings.batch_size, ErrorPolicy("log_and_skip", None),
                  logging.getLogger("bench"))  # fmt: skip
    return {"seconds": time.perf_counter() - started, "fields": manifest.fields_changed}


def run_plain(url: str, work: Path) -> dict:
    from migrations.slots import auto_chunk_count
    from migrations.targets import discover_targets
    from tasks.assess import assess_keyspace
    from tasks.backup import write_logical_backup
    from tasks.chunk_runner import ErrorPolicy, run_chunk
    from tasks.latency_probe import ResourceProbe, probe_latency
    from tasks.redis_io.redis_nodes import open_nodes
    from tasks.server_facts import read_nodes_facts
    from tasks.snapshot import snapshot_nodes
    from tasks.verify import check_chunk, check_sample_with_models, count_legacy_left, summarize

    settings = _settings(url, work)
    phases: dict[str, float] = {}
    started = time.perf_counter()
    client = open_nodes(url)
    targets = discover_targets(settings.models)
    facts = read_nodes_facts(client)
    assessment = assess_keyspace(client, targets, facts, settings.zone, settings.batch_size, work, "bench")
    probe_latency(url)  # the flow's baseline probe
    phases["assess"] = time.perf_counter() - started
    mark = time.perf_counter()
    snapshot_nodes(client, work)
    chunks = auto_chunk_count(assessment.keys_scanned)
    manifest, _tally = write_logical_backup(client, targets, settings, "bench", chunks)
    phases["backup"] = time.perf_counter() - mark
    mark = time.perf_counter()
    with ResourceProbe(url):
        for chunk in manifest.chunks:
            run_chunk(client, settings.backup_dir, chunk, "migrate", settings.batch_size,
                      ErrorPolicy("log_and_skip", None), logging.getLogger("bench"))  # fmt: skip
    phases["migrate"] = time.perf_counter() - mark
    mark = time.perf_counter()
    checks = [check_chunk(client, settings.backup_dir, c, "target", settings.batch_size) for c in manifest.chunks]
    left = count_legacy_left(client, targets, settings.zone, settings.batch_size)
    sample = check_sample_with_models(url, targets, [s for c in checks for s in c.sample], settings.zone)
    verification = summarize(checks, "target", mark, left, sample)
    phases["verify"] = time.perf_counter() - mark
    assert verification.passed, verification.problem_counts
    probe_latency(url)  # the flow's post-migration probe
    return {"seconds": time.perf_counter() - started, "phases": phases}


def run_flow(url: str, work: Path) -> dict:
    from prefect import flow

    from flows.migration_flow import migration_flow

    @flow
    def warm_up() -> None:
        """Starts the embedded Prefect server, so its start-up is reported apart."""

    mark = time.perf_counter()
    warm_up()
    startup = time.perf_counter() - mark
    started = time.perf_counter()
    report = migration_flow(_settings(url, work))
    assert report.status == "succeeded", report.messages
    return {
        "seconds": time.perf_counter() - started,
        "prefect_startup_seconds": startup,
        "phases": {name: phase.duration_seconds for name, phase in report.phases.items()},
    }


RUNNERS = {
    "redis-om": run_redis_om,
    "naive": run_naive,
    "migrate": run_migrate,
    "read-migrate": run_read_migrate,
    "plain": run_plain,
    "flow": run_flow,
}


def child(mode: str, url: str) -> None:
    with tempfile.TemporaryDirectory(prefix="om-bench-") as work:
        result = RUNNERS[mode](url, Path(work))
    result["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(result))


def seed_fresh(url: str, count: int) -> None:
    from migrations.sample_data import generate_legacy_records
    from tasks.redis_io.redis_nodes import open_nodes
    from tasks.seed import write_legacy_records

    nodes = open_nodes(url)
    nodes.clients[0].flushall()
    write_legacy_records(nodes, generate_legacy_records(count, 0.0, seed=count))


def measure(mode: str, url: str, count: int) -> dict:
    seed_fresh(url, count)
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", TZ="UTC")
    completed = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--url", url], capture_output=True, text=True, env=env, check=False
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    if completed.returncode != 0 or not lines:
        raise SystemExit(f"{mode} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT ") :])
    result["keys_per_second"] = count / result["seconds"]
    print(f"{count} {mode}: {result['seconds']:.2f} s, peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, action="append", help="legacy records (repeatable; default 100000)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url)
        return

    from tasks.redis_io.local_redis import start_redis_server

    with tempfile.TemporaryDirectory(prefix="om-bench-redis-") as directory:
        server = start_redis_server(Path(directory))
        try:
            for count in args.count or [100_000]:
                results = {mode: measure(mode, server.url, count) for mode in args.modes}
                print_table(count, results)
        finally:
            server.stop()


def print_table(count: int, results: dict[str, dict]) -> None:
    import pandas as pd

    rows = []
    for mode, result in results.items():
        row = {
            "records": count,
            "mode": mode,
            "seconds": round(result["seconds"], 2),
            "keys/s": round(result["keys_per_second"]),
            "peak RSS MB": round(result["peak_rss_mb"]),
        }
        for baseline in ("redis-om", "naive"):
            comparable = baseline == "redis-om" or mode in LIKE_FOR_LIKE_WITH_NAIVE
            if baseline in results and mode != baseline and comparable:
                row[f"x {baseline}"] = round(result["keys_per_second"] / results[baseline]["keys_per_second"], 2)
        rows.append(row)
    print(pd.DataFrame(rows).to_string(index=False))
    if "flow" in results and "plain" in results:
        flow, plain = results["flow"]["seconds"], results["plain"]["seconds"]
        print(f"flow phases: {json.dumps({k: round(v, 2) for k, v in results['flow']['phases'].items()})}")
        print(f"plain phases: {json.dumps({k: round(v, 2) for k, v in results['plain']['phases'].items()})}")
        print(
            f"Prefect overhead: {100 * (flow - plain) / flow:.1f}% of the flow's wall time "
            f"(+{results['flow']['prefect_startup_seconds']:.1f} s embedded server start-up, once per process)"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
