"""JSON documents against hashes: the same `om-runbook run` flow on the same Redis 8.2 with RediSearch and RedisJSON.

    .venv/bin/python tests/benchmarks/json_vs_hash.py [--count 100000]

hash: the sample Customer/Order hashes (`om-runbook seed`, 2.75 datetime fields a record on average).
json: Account documents as redis-om 0.x wrote them (tests/flows/account_models.py): 3 to 8 datetimes a document, at
depth (embedded model, lists of embedded models, List[datetime]), embedded pks, null.
Each runs the whole flow (no RDB snapshot, schema step `recreate`, auto-approved, the session's Prefect test server)
from freshly seeded data; the figures are the phases' keys/s from the run's report. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def seed_hashes(client, count: int) -> None:
    from om_runbook.migrations.sample_data import generate_legacy_records
    from om_runbook.tasks.io.redis_nodes import single_server
    from om_runbook.tasks.writer.seed import write_legacy_records

    write_legacy_records(single_server(client), generate_legacy_records(count, 0.0, seed=count))


def seed_documents(client, count: int) -> None:
    from tests.flows.test_json_documents import PREFIX, _legacy_document

    pipe = client.pipeline(transaction=False)
    for i in range(count):
        pipe.execute_command("JSON.SET", f"{PREFIX}A{i:07d}", "$", json.dumps(_legacy_document(i % 1000)))
        if len(pipe) >= 2000:
            pipe.execute()
    pipe.execute()


def measure(url: str, count: int, kind: str) -> dict:
    import redis
    from pydantic import SecretStr

    from om_runbook.flows.migration_flow import migration_flow
    from om_runbook.migrations.config import build_settings

    client = redis.Redis.from_url(url)
    client.flushall()
    (seed_documents if kind == "json" else seed_hashes)(client, count)
    models = "tests.flows.account_models" if kind == "json" else "om_runbook.migrations.sample_models"
    with tempfile.TemporaryDirectory(prefix="om-json-bench-") as work:
        settings = build_settings(
            redis_url=SecretStr(url), models=models, backup_dir=Path(work) / "b", rdb_snapshot=False, auto_approve=True
        )
        started = time.perf_counter()
        report = migration_flow(settings)
        seconds = time.perf_counter() - started
    if report.status != "succeeded":
        raise SystemExit(f"{kind}: the run ended {report.status}: {report.messages}")
    phases = {name: phase.duration_seconds for name, phase in report.phases.items()}
    return {
        "kind": kind,
        "records": count,
        "fields converted": report.kpis.fields_converted,
        "whole flow s": round(seconds, 1),
        "whole flow keys/s": round(count / seconds),
        **{f"{name} keys/s": round(count / phases[name]) for name in ("assess", "backup", "migrate", "verify")},
    }


def main() -> None:
    import pandas as pd
    from prefect.testing.utilities import prefect_test_harness

    from om_runbook.tasks.io.local_redis import start_redis_server
    from tests.redis_stack import stack_binary, stack_module_args

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="om-json-redis-") as directory,
        prefect_test_harness(server_startup_timeout=120),
    ):
        server = start_redis_server(Path(directory), *stack_module_args(), binary=stack_binary())
        try:
            rows = [measure(server.url, args.count, kind) for kind in ("hash", "json")]
        finally:
            server.stop()
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
