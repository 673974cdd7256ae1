"""The three ways back, each timed on the same freshly migrated records, one after the other in one run:

    .venv/bin/python tests/benchmarks/recovery_benchmark.py --count 100000

- automatic: `om-runbook run` whose error rate passes --max-error-rate (1% dirty records, limit 0.1%): the run rolls
  itself back; the figure is its rollback phase (compare-and-set of every changed key + the check of every field);
- rollback: `om-runbook rollback --backup-dir DIR` after a successful run: the whole command (its flow: permission
  check, compare-and-set, check) as reported by --report-json, and the command's wall time (start-up included);
- restore-snapshot: `om-runbook restore-snapshot --confirm` after a successful run whose chunk files were deleted:
  load the RDB snapshot, compare every model key, DUMP/RESTORE the changed ones, check every key again.
Every command reports to one running Prefect server (as production runs do). Figures are printed, nothing asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
MODELS = "om_runbook.migrations.sample_models"


def _command(arguments: list[str], env: dict[str, str], report: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("om-runbook")), *arguments, "--report-json", str(report)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if not report.exists():
        raise SystemExit(f"{arguments[0]} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    return seconds, json.loads(report.read_text())


def _seed(url: str, count: int, dirty_share: float) -> None:
    from om_runbook.migrations.sample_data import generate_legacy_records
    from om_runbook.tasks.io.redis_nodes import open_nodes
    from om_runbook.tasks.writer.seed import write_legacy_records

    nodes = open_nodes(url)
    nodes.clients[0].flushall()
    write_legacy_records(nodes, generate_legacy_records(count, dirty_share, seed=count))


def _run(url: str, work: Path, name: str, env: dict[str, str], *extra: str) -> tuple[Path, dict]:
    backup = work / name
    arguments = ["run", "--redis-url", url, "--models", MODELS, "--backup-dir", str(backup), "--auto-approve", *extra]
    _seconds, report = _command(arguments, env, work / f"{name}-run.json")
    return backup, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000, help="legacy records (100000)")
    args = parser.parse_args()

    from om_runbook.flows.embedded_server import EmbeddedServer
    from om_runbook.tasks.io.local_redis import start_redis_server

    with tempfile.TemporaryDirectory(prefix="om-recovery-bench-") as directory:
        work = Path(directory)
        server = start_redis_server(work / "redis")
        os.environ["PREFECT_HOME"] = str(work / "prefect-home")
        prefect = EmbeddedServer(work / "prefect.log")
        prefect.wait_ready()
        env = dict(os.environ, PREFECT_API_URL=prefect.api_url, PREFECT_SERVER_ANALYTICS_ENABLED="false", TZ="UTC")
        rows, estimates = [], {}
        try:
            _seed(server.url, args.count, 0.01)
            _backup, report = _run(server.url, work, "automatic", env, "--max-error-rate", "0.001")
            rollback = report["phases"].get("rollback", {})
            rows.append(("automatic rollback", report["status"], None, rollback.get("duration_seconds")))

            _seed(server.url, args.count, 0.0)
            backup, report = _run(server.url, work, "manual", env)
            wall, rolled = _command(
                ["rollback", "--redis-url", server.url, "--backup-dir", str(backup)], env, work / "rollback.json"
            )
            rows.append(("om-runbook rollback", rolled["status"], wall, rolled["kpis"]["duration_seconds"]))
            estimates = {
                check["name"]: check["value"] for check in report["kpi_checks"] if check["name"].startswith("RTO")
            }

            _seed(server.url, args.count, 0.0)
            backup, report = _run(server.url, work, "snapshot", env)
            shutil.rmtree(backup / "chunks")
            command = ["restore-snapshot", "--redis-url", server.url, "--backup-dir", str(backup), "--confirm"]
            wall, restored = _command(command, env, work / "restore.json")
            rows.append(("om-runbook restore-snapshot", restored["status"], wall, restored["duration_seconds"]))
            print(
                f"restore-snapshot parts (s): load {restored['load_seconds']:.2f}, compare and write "
                f"{restored['compare_seconds']:.2f}, check {restored['verify_seconds']:.2f}; keys written "
                f"{restored['written']:,}"
            )
        finally:
            prefect.stop()
            server.stop()
    print(f"{args.count:,} legacy records, measured {time.strftime('%Y-%m-%d')}")
    print(f"{'way back':<30} {'status':<14} {'command wall s':>15} {'flow s':>8}")
    for name, status, wall, flow_seconds in rows:
        shown_wall = f"{wall:.2f}" if wall is not None else "-"
        shown_flow = f"{flow_seconds:.2f}" if flow_seconds is not None else "-"
        print(f"{name:<30} {status:<14} {shown_wall:>15} {shown_flow:>8}")
    print(f"the run's own RTO estimates (KPI artifact): {estimates}")


if __name__ == "__main__":
    main()
