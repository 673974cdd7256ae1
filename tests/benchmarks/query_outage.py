"""Query outage of the schema step's two modes, measured while a real run goes (Redis 8.2 with RediSearch).

    .venv/bin/python tests/benchmarks/query_outage.py [--count 100000]

Each mode starts from the same data as redis-om 0.2.2 wrote it (ISO strings, '' for None, datetimes indexed as TAG)
and runs the whole `om-runbook run` flow (no RDB snapshot, auto-approved) while a poller asks the index every 20 ms
how many documents queries see (`FT.SEARCH idx * LIMIT 0 0`, what every `find()` goes through). Outage = the time
during which that query failed or saw fewer documents than before the run. Figures are printed, nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PREFIX = ":tests.benchmarks.outage_models.Session:"
INDEX = PREFIX + "index"


def seed_legacy_sessions(client, count: int) -> None:
    client.flushall()
    client.execute_command(
        "FT.CREATE", INDEX, "ON", "HASH", "PREFIX", "1", PREFIX, "SCHEMA", "pk", "TAG", "SEPARATOR", "|",
        "user", "TAG", "SEPARATOR", "|", "started_at", "TAG", "SEPARATOR", "|", "ended_at", "TAG", "SEPARATOR", "|",
    )  # fmt: skip
    start = datetime(2023, 11, 1, 8, 0)
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        began = start + timedelta(minutes=7 * i, microseconds=i)
        ended = "" if i % 2 else (began + timedelta(minutes=30)).isoformat()
        pipe.hset(
            f"{PREFIX}{i:08d}",
            mapping={"pk": f"{i:08d}", "user": f"u{i % 97}", "started_at": began.isoformat(), "ended_at": ended},
        )
        if len(pipe) >= 2000:
            pipe.execute()
    pipe.execute()
    while _visible(client) < count:  # the legacy index takes the seeded documents in
        time.sleep(0.1)


def _visible(client) -> int:
    return int(client.execute_command("FT.SEARCH", INDEX, "*", "LIMIT", 0, 0)[0])


class QueryPoller(threading.Thread):
    """Asks the index every `period` seconds; sums the time during which queries failed or saw too few documents."""

    def __init__(self, url: str, expected: int, period: float = 0.02) -> None:
        super().__init__(daemon=True)
        import redis

        self.client = redis.Redis.from_url(url, protocol=2)
        self.expected, self.period = expected, period
        self.outage = 0.0
        self.failed_queries = self.short_answers = self.queries = 0
        self.fewest = expected
        self.stopped = threading.Event()

    def run(self) -> None:
        last = time.perf_counter()
        while not self.stopped.is_set():
            try:
                seen = _visible(self.client)
                bad = seen < self.expected
                self.short_answers += bad
                self.fewest = min(self.fewest, seen)
            except Exception:  # noqa: BLE001 - an unknown index (dropped, not yet created) is an outage
                bad = True
                self.failed_queries += 1
                self.fewest = 0
            now = time.perf_counter()
            if bad:
                self.outage += now - last
            last = now
            self.queries += 1
            time.sleep(self.period)


def measure(url: str, count: int, mode: str) -> dict:
    import redis
    from pydantic import SecretStr

    from om_runbook.flows.migration_flow import migration_flow
    from om_runbook.migrations.config import build_settings

    client = redis.Redis.from_url(url, protocol=2)
    seed_legacy_sessions(client, count)
    before = _visible(client)
    poller = QueryPoller(url, before)
    with tempfile.TemporaryDirectory(prefix="om-outage-") as work:
        settings = build_settings(
            redis_url=SecretStr(url), models="tests.benchmarks.outage_models", backup_dir=Path(work) / "b",
            schema_mode=mode, rdb_snapshot=False, auto_approve=True,
        )  # fmt: skip
        poller.start()
        started = time.perf_counter()
        report = migration_flow(settings)
        seconds = time.perf_counter() - started
        poller.stopped.set()
        poller.join()
    if report.status != "succeeded":
        raise SystemExit(f"{mode}: the run ended {report.status}: {report.messages}")
    return {
        "mode": mode,
        "records": count,
        "run seconds": round(seconds, 1),
        "query outage seconds": round(poller.outage, 2),
        "failed queries": poller.failed_queries,
        "short answers": poller.short_answers,
        "fewest seen": poller.fewest,
        "queries": poller.queries,
        "visible after": _visible(client),
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
        tempfile.TemporaryDirectory(prefix="om-outage-redis-") as directory,
        prefect_test_harness(server_startup_timeout=120),
    ):
        server = start_redis_server(Path(directory), *stack_module_args(), binary=stack_binary())
        try:
            rows = [measure(server.url, args.count, mode) for mode in ("recreate", "alias")]
        finally:
            server.stop()
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
