"""Speed and memory of the migration against baselines measured in the same run, on the same redis-server.

    .venv/bin/python tests/benchmarks/migrate_benchmark.py --count 100000 [--count 1000000] [--modes ...]

Each mode runs in its own process (so peak RSS is its own) against freshly seeded legacy records:
- redis-om:  redis-om 1.2.0's own DatetimeFieldMigration.up() (sync), with its indentation defect undone
             (the methods indented into MigrationState re-attached), as a user would have to;
- naive:     a pipelined redis-py HMGET + HSET loop with datetime.fromisoformat(...).timestamp();
- migrate:   our migrate phase alone (compare-and-set from the logical backup, all chunks): no scan, no reads, no
             conversion (the backup did those), so it is NOT comparable with the naive loop;
- read-migrate: the naive loop's job done our way: the run's one scan (read, convert, classify, write the logical
             backup lines; in one worker process per core from 200k keys), then compare-and-set every chunk (no RDB
             snapshot, no verification, no Prefect);
- plain:     our whole pipeline without Prefect: server facts and a baseline probe; one scan that assesses and writes
             the logical backup with the RDB snapshot + check + restore test beside it; migrate (the chunks
             `parallel` at a time, each in its thread with its own connections, as the flow runs them); verify (every
             changed key read back against the backup, the Model.get() sample); the after probe. From 200k keys the
             scan and the read-back run in one worker process per core, as in the flow;
- flow-server: `om-runbook run --auto-approve`, whole command, reporting to a running Prefect server (as production);
- flow-embedded: the same command with no PREFECT_API_URL: it starts its embedded server (database built by setup).
Plain and the flow modes count their own imports: each child process starts with none of our modules imported (the
flow's figure has Prefect's import, with pydantic and httpx, and pandas, redis-om and ours; plain's has redis-om and
ours, Prefect imported before its timer starts). The other modes do not.
redis-om runs at 100k only (it is 25-60x slower). Prefect overhead = (flow-server - plain) / flow-server. "x naive" is
printed only for the modes that do at least the naive loop's work. Figures are printed, nothing is asserted.
With --repeat N each mode runs N times, the modes in turn, and the table holds each mode's median run (its spread is
printed): the same command varies by about 10% from run to run here, more than a 5% target's margin.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

MODES = ("redis-om", "naive", "migrate", "read-migrate", "plain", "flow-server", "flow-embedded")
LIKE_FOR_LIKE_WITH_NAIVE = ("read-migrate", "plain", "flow-server", "flow-embedded")
REDIS_OM_MAX_COUNT = 200_000  # redis-om's own algorithm runs ~650-2,200 keys/s: measured at 100k only


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_redis_om(url: str, _work: Path) -> dict:
    os.environ["REDIS_OM_URL"] = url
    from redis_om import get_redis_connection
    from redis_om.model.migrations.data.builtin import datetime_migration as dm

    import om_runbook.migrations.sample_models  # noqa: F401  registers the models in redis-om's registry

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
        b":om_runbook.migrations.sample_models.Customer:": [b"signed_up", b"birthday", b"last_login"],
        b":om_runbook.migrations.sample_models.Order:": [b"placed_at", b"shipped_on", b"delivered_at"],
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

    from om_runbook.migrations.config import build_settings

    values = {
        "redis_url": SecretStr(url),
        "models": "om_runbook.migrations.sample_models",
        "backup_dir": work / "backup",
        "auto_approve": True,
    }
    return build_settings(**values, **extra)


def _back_up(url: str, work: Path):
    """The run's one scan (logical backup lines, no RDB snapshot): (nodes, settings, manifest)."""
    from om_runbook.migrations.slots import auto_chunk_count
    from om_runbook.migrations.targets import discover_targets
    from om_runbook.tasks.first_scan import assess_and_back_up
    from om_runbook.tasks.io.redis_nodes import open_nodes
    from om_runbook.tasks.readers.keyspace import keys_in_database
    from om_runbook.tasks.readers.server_facts import read_nodes_facts

    settings = _settings(url, work, rdb_snapshot=False)
    nodes = open_nodes(url)
    chunks = auto_chunk_count(keys_in_database(nodes))
    scan = assess_and_back_up(settings, discover_targets(settings.models), read_nodes_facts(nodes), chunks)
    return nodes, settings, scan.manifest


def _migrate_every_chunk(nodes, settings, manifest) -> None:
    from om_runbook.tasks.writer.chunk_runner import ErrorPolicy, run_chunk

    for chunk in manifest.chunks:
        run_chunk(nodes, settings.backup_dir, chunk, "migrate", settings.batch_size, ErrorPolicy("log_and_skip", None),
                  logging.getLogger("bench"))  # fmt: skip


def run_migrate(url: str, work: Path) -> dict:
    nodes, settings, manifest = _back_up(url, work)
    started = time.perf_counter()
    _migrate_every_chunk(nodes, settings, manifest)
    return {"seconds": time.perf_counter() - started, "fields": manifest.fields_changed}


def run_read_migrate(url: str, work: Path) -> dict:
    started = time.perf_counter()
    nodes, settings, manifest = _back_up(url, work)
    _migrate_every_chunk(nodes, settings, manifest)
    return {"seconds": time.perf_counter() - started, "fields": manifest.fields_changed}


def run_plain(url: str, work: Path) -> dict:
    # Our task modules import Prefect (and with it pydantic, httpx) for their @task decorators; plain uses none of
    # it, so that import is left out of its figure and the flow's alone carries it
    import prefect  # noqa: F401

    started = time.perf_counter()  # its other imports counted, as the flow's command counts its own
    from om_runbook.migrations.slots import auto_chunk_count
    from om_runbook.migrations.targets import discover_targets
    from om_runbook.migrations.verification import summarize
    from om_runbook.migrations.worker_pool import worker_count
    from om_runbook.tasks.first_scan import assess_and_back_up
    from om_runbook.tasks.guards.latency_probe import ResourceProbe, probe_latency
    from om_runbook.tasks.io.redis_nodes import open_nodes
    from om_runbook.tasks.io.worker_pool import worker_processes
    from om_runbook.tasks.readers.chunk_check import check_chunk_at
    from om_runbook.tasks.readers.keyspace import keys_in_database
    from om_runbook.tasks.readers.server_facts import read_nodes_facts
    from om_runbook.tasks.verify import check_sample_with_models
    from om_runbook.tasks.writer.chunk_runner import ErrorPolicy, run_chunk

    settings = _settings(url, work)
    phases: dict[str, float] = {}
    mark = time.perf_counter()
    client = open_nodes(url)
    targets = discover_targets(settings.models)
    facts = read_nodes_facts(client)
    chunks = auto_chunk_count(keys_in_database(client))
    probe_latency(url)  # the flow's baseline probe
    phases["assess"] = time.perf_counter() - mark
    mark = time.perf_counter()
    manifest = assess_and_back_up(settings, targets, facts, chunks).manifest  # the RDB snapshot beside the scan
    phases["backup"] = time.perf_counter() - mark
    mark = time.perf_counter()
    # as the flow runs them: `parallel` chunks at a time, each with its own connections
    with ResourceProbe(url), ThreadPoolExecutor(settings.parallel) as threads:
        list(threads.map(
            lambda c: run_chunk(open_nodes(url), settings.backup_dir, c, "migrate", settings.batch_size,
                                ErrorPolicy("log_and_skip", None), logging.getLogger("bench")),
            [c for c in manifest.chunks if c.key_count],
        ))  # fmt: skip
    phases["migrate"] = time.perf_counter() - mark
    mark = time.perf_counter()
    chunks = [c for c in manifest.chunks if c.key_count]
    keys = sum(c.key_count for c in chunks)
    with (
        worker_processes(worker_count(keys, len(chunks), os.cpu_count())) as pool,
        ThreadPoolExecutor(len(chunks)) as threads,
    ):
        checks = list(threads.map(  # as the flow runs them: a thread per chunk, its check in a worker process
            lambda c: pool.run(check_chunk_at, url, settings.backup_dir, c, "target", settings.batch_size), chunks
        ))  # fmt: skip
    sample = check_sample_with_models(url, targets, [s for c in checks for s in c.sample], settings.zone)
    left = (sum(c.counts.get("not_applied", 0) for c in checks), [])
    verification = summarize(checks, "target", time.perf_counter() - mark, left, sample)
    phases["verify"] = time.perf_counter() - mark
    assert verification.passed, verification.problem_counts
    mark = time.perf_counter()
    probe_latency(url)  # the flow's post-migration probe
    phases["post_migration"] = time.perf_counter() - mark
    return {"seconds": time.perf_counter() - started, "phases": phases}


def _run_command(url: str, work: Path) -> dict:
    """`om-runbook run --auto-approve` in this process (its RSS is this process's), exactly as a user runs it; its
    imports counted, as plain counts its own."""
    report = work / "report.json"
    argv = ["run", "--redis-url", url, "--models", "om_runbook.migrations.sample_models",
            "--backup-dir", str(work / "backup"), "--auto-approve", "--report-json", str(report)]  # fmt: skip
    started = time.perf_counter()
    from om_runbook.flows.cli import main

    code = main(argv)
    seconds = time.perf_counter() - started
    outcome = json.loads(report.read_text())
    assert code == 0 and outcome["status"] == "succeeded", outcome["messages"]
    return {
        "seconds": seconds,
        "phases": {name: phase["duration_seconds"] for name, phase in outcome["phases"].items()},
    }


def run_flow_server(url: str, work: Path) -> dict:
    assert os.environ.get("PREFECT_API_URL"), "the parent passes its running Prefect server"
    return _run_command(url, work)


def run_flow_embedded(url: str, work: Path) -> dict:
    assert not os.environ.get("PREFECT_API_URL"), "the command starts its own embedded server"
    return _run_command(url, work)


RUNNERS = {
    "redis-om": run_redis_om,
    "naive": run_naive,
    "migrate": run_migrate,
    "read-migrate": run_read_migrate,
    "plain": run_plain,
    "flow-server": run_flow_server,
    "flow-embedded": run_flow_embedded,
}


def _size_mb(directory: Path) -> float:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file()) / 1e6


def child(mode: str, url: str) -> None:
    with tempfile.TemporaryDirectory(prefix="om-bench-") as work:
        result = RUNNERS[mode](url, Path(work))
        if (Path(work) / "backup").is_dir():
            result["backup_mb"] = _size_mb(Path(work) / "backup")
    result["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(result))


def seed_fresh(url: str, count: int) -> None:
    from om_runbook.migrations.sample_data import generate_legacy_records
    from om_runbook.tasks.io.redis_nodes import open_nodes
    from om_runbook.tasks.writer.seed import write_legacy_records

    nodes = open_nodes(url)
    nodes.clients[0].flushall(asynchronous=True)  # a synchronous FLUSHALL of 10M keys outlasts the socket timeout
    write_legacy_records(nodes, generate_legacy_records(count, 0.0, seed=count))


def measure(mode: str, url: str, count: int, prefect_env: dict[str, dict[str, str]]) -> dict:
    seed_fresh(url, count)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "TZ": "UTC"} | prefect_env.get(mode, {})
    completed = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--url", url], capture_output=True, text=True, env=env, check=False
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    if completed.returncode != 0 or not lines:
        raise SystemExit(f"{mode} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT ") :])
    result["keys_per_second"] = count / result["seconds"]
    print(f"{count} {mode}: {result['seconds']:.2f} s, peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
    if "phases" in result:  # now, not only in the table: a later mode's failure must not lose them
        print(f"{count} {mode} phases (s): {json.dumps({k: round(v, 2) for k, v in result['phases'].items()})}")
    return result


def _prefect_homes(root: Path) -> tuple[dict[str, dict[str, str]], object]:
    """A running Prefect server for flow-server (as production runs use), and for flow-embedded a PREFECT_HOME whose
    database was built as `make setup` builds it (the command starts its embedded server on it)."""
    from om_runbook.flows.embedded_server import EmbeddedServer

    embedded_home, server_home = root / "embedded-home", root / "server-home"
    env = dict(os.environ, PREFECT_HOME=str(embedded_home))
    prefect = Path(sys.executable).with_name("prefect")
    subprocess.run([str(prefect), "server", "database", "upgrade", "-y"], env=env, check=True, capture_output=True)
    os.environ["PREFECT_HOME"] = str(server_home)
    server = EmbeddedServer(server_home / "server.log")
    server.wait_ready()
    homes = {
        "flow-server": {"PREFECT_HOME": str(server_home), "PREFECT_API_URL": server.api_url},
        "flow-embedded": {"PREFECT_HOME": str(embedded_home)},
    }
    return homes, server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, action="append", help="legacy records (repeatable; default 100000)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure each mode this many times, in turn; the median run is reported"
    )
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url)
        return

    from om_runbook.tasks.io.local_redis import start_redis_server

    with tempfile.TemporaryDirectory(prefix="om-bench-") as directory:
        # Redis's own default sync delay (5 s), as production servers run: our throwaway servers start with 0
        server = start_redis_server(Path(directory) / "redis", "--repl-diskless-sync-delay", "5")
        homes, prefect_server = _prefect_homes(Path(directory))
        try:
            previous: tuple[int, dict[str, dict]] | None = None
            for count in args.count or [100_000]:
                modes = [m for m in args.modes if m != "redis-om" or count <= REDIS_OM_MAX_COUNT]
                runs: dict[str, list[dict]] = {mode: [] for mode in modes}
                for _ in range(args.repeat):  # in turn, so that the machine's drift falls on every mode alike
                    for mode in modes:
                        runs[mode].append(measure(mode, server.url, count, homes))
                if args.repeat > 1:
                    for mode in modes:
                        print(spread_line(count, mode, runs[mode]), flush=True)
                results = {mode: median_run(mode_runs) for mode, mode_runs in runs.items()}
                print_table(count, results)
                phases = {mode: result["phases"] for mode, result in results.items() if "phases" in result}
                if previous:
                    for line in curve_lines(*previous, count, phases):
                        print(line, flush=True)
                previous = (count, phases)
        finally:
            prefect_server.stop()
            server.stop()


def median_run(runs: list[dict]) -> dict:
    """The run with the median seconds (the lower one of the middle two for an even count): a whole run, so that its
    phases and RSS are of the same run as its seconds."""
    return sorted(runs, key=lambda run: run["seconds"])[(len(runs) - 1) // 2]


def spread_line(count: int, mode: str, runs: list[dict]) -> str:
    seconds = sorted(run["seconds"] for run in runs)
    low, high, median = seconds[0], seconds[-1], median_run(runs)["seconds"]
    return (
        f"{count} {mode}: {len(runs)} runs, {low:.2f} / {median:.2f} / {high:.2f} s (min / median / max; spread "
        f"{(high - low) / median:.0%} of the median)"
    )


def _ratio(numerator: float | None, denominator: float | None) -> str:
    return f"{numerator / denominator:.2f}" if numerator and denominator else "n/a"


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
        if "backup_mb" in result:
            row["backup MB"] = round(result["backup_mb"])
        for baseline in ("redis-om", "naive"):
            comparable = baseline == "redis-om" or mode in LIKE_FOR_LIKE_WITH_NAIVE
            if baseline in results and mode != baseline and comparable:
                row[f"x {baseline}"] = round(result["keys_per_second"] / results[baseline]["keys_per_second"], 2)
        rows.append(row)
    print(pd.DataFrame(rows).to_string(index=False))
    for mode in ("plain", "flow-server", "flow-embedded"):
        if mode in results:
            phases = results[mode]["phases"]  # their seconds were printed as each mode was measured
            rates = {k: round(count / v) for k, v in phases.items() if k in PER_KEY_PHASES and v}
            print(f"{mode} phases (keys/s): {json.dumps(rates)}")
    seconds = {mode: result["seconds"] for mode, result in results.items()}
    flow = results.get("flow-server")
    if flow:
        migrate = flow["phases"].get("migrate")
        print(f"whole flow (running server) x redis-om: {_ratio(seconds.get('redis-om'), seconds['flow-server'])}")
        print(f"its migrate phase x redis-om: {_ratio(seconds.get('redis-om'), migrate)}")
        print(f"whole flow / its migrate phase: {_ratio(seconds['flow-server'], migrate)}")
        if "plain" in seconds:
            overhead = 100 * (seconds["flow-server"] - seconds["plain"]) / seconds["flow-server"]
            print(f"Prefect overhead (flow-server vs plain): {overhead:.1f}% of the flow's wall time")
        if "flow-embedded" in seconds:
            print(f"embedded server costs {seconds['flow-embedded'] - seconds['flow-server']:.1f} s over a running one")
    phases = {mode: results[mode]["phases"] for mode in ("plain", "flow-server") if mode in results}
    for line in target_lines(count, seconds, phases):
        print(line)
    sys.stdout.flush()


# issue 25's targets: (the record count it set them for, what, the limit, at most or at least)
FLOW_OVER_PLAIN, PHASE_OVER_PLAIN, REDIS_OM_OVER_FLOW = 1.2, 1.1, 6.0
FLOW_OVER_NAIVE, PREFECT_OVERHEAD = 2.0, 0.05


def target_lines(count: int, seconds: dict[str, float], phases: dict[str, dict[str, float]]) -> list[str]:
    """Each target that applies at `count` records, with this run's figure and met / NOT MET (pure: the figures
    come from one run; nothing is asserted)."""
    lines: list[str] = []

    def judge(label: str, value: float | None, limit: float, at_most: bool = True) -> None:
        if value is None:
            return
        met = value <= limit if at_most else value >= limit
        bound = f"{'at most' if at_most else 'at least'} {limit:g}"
        lines.append(f"target at {count:,}: {label} {value:.2f} ({bound}): {'met' if met else 'NOT MET'}")

    def ratio(numerator: float | None, denominator: float | None) -> float | None:
        return numerator / denominator if numerator and denominator else None

    flow, plain = seconds.get("flow-server"), seconds.get("plain")
    if count < 1_000_000:
        judge("whole flow / plain pipeline", ratio(flow, plain), FLOW_OVER_PLAIN)
        for phase in sorted(set(phases.get("plain", {})) & set(phases.get("flow-server", {}))):
            judge(
                f"{phase} in the flow / in plain",
                ratio(phases["flow-server"][phase], phases["plain"][phase]),
                PHASE_OVER_PLAIN,
            )
        judge(
            "redis-om's algorithm / whole flow", ratio(seconds.get("redis-om"), flow), REDIS_OM_OVER_FLOW, at_most=False
        )
    else:
        judge("whole flow / naive loop", ratio(flow, seconds.get("naive")), FLOW_OVER_NAIVE)
        overhead = (flow - plain) / flow if flow and plain else None
        judge("Prefect overhead (flow - plain) / flow", overhead, PREFECT_OVERHEAD)
    return lines


PER_KEY_PHASES = ("backup", "migrate", "verify")  # the others take a fixed time (facts, probes, the index)
CURVE_DROP = 0.20  # issue 25: a phase whose keys/s drops more than this from one count to the next is a finding


def curve_lines(
    before: int, phases_before: dict[str, dict[str, float]], after: int, phases_after: dict[str, dict[str, float]]
) -> list[str]:
    """Each phase's keys/s at `after` records against `before` records, for every mode that has phases at both
    (pure: the figures come from one run); a drop beyond CURVE_DROP is marked FINDING."""
    lines = []
    for mode in sorted(set(phases_before) & set(phases_after)):
        for phase in [p for p in PER_KEY_PHASES if p in phases_before[mode] and p in phases_after[mode]]:
            was, now = phases_before[mode][phase], phases_after[mode][phase]
            if not was or not now:
                continue
            rate_before, rate_after = before / was, after / now
            change = rate_after / rate_before - 1
            verdict = f"FINDING: dropped more than {CURVE_DROP:.0%}" if change < -CURVE_DROP else "ok"
            lines.append(
                f"curve {mode} {phase}: {rate_before:,.0f} keys/s at {before:,} -> {rate_after:,.0f} at {after:,} "
                f"({change:+.0%}): {verdict}"
            )
    return lines


if __name__ == "__main__":
    main()
