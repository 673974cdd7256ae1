"""What each `om-runbook` subcommand does, given its parsed arguments (returns the exit code)."""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr, ValidationError
from rich.console import Console

from om_runbook.flows.report_view import print_rehearsal, print_report, rehearsal_json
from om_runbook.flows.run_options import run_option_values
from om_runbook.migrations.config import RunSettings, build_settings
from om_runbook.migrations.errors import ConfigurationError, RunbookError
from om_runbook.migrations.redaction import redact_url
from om_runbook.migrations.report import RunReport
from om_runbook.tasks.backup_store.backup_format import write_atomically
from om_runbook.tasks.backup_store.report import keep_archive, prepare_archive_copy

if TYPE_CHECKING:
    from om_runbook.flows.embedded_server import EmbeddedServer

console = Console(stderr=False)


def seed(args: argparse.Namespace) -> int:
    from om_runbook.migrations.sample_data import generate_legacy_records
    from om_runbook.tasks.io.redis_nodes import open_nodes
    from om_runbook.tasks.writer.seed import write_legacy_records

    if args.count < 0:
        raise RunbookError("--count must be >= 0")
    if not 0.0 <= args.dirty_share <= 1.0:
        raise RunbookError("--dirty-share must be between 0 and 1")
    records = generate_legacy_records(args.count, args.dirty_share, args.seed)
    summary = write_legacy_records(open_nodes(args.redis_url), records)
    console.print(
        f"seeded {summary.records} legacy records ({summary.dirty} dirty) into {redact_url(args.redis_url)} "
        f"in {summary.seconds:.2f} s ({summary.records_per_second:,.0f} records/s)"
    )
    for prefix, count in sorted(summary.per_prefix.items()):
        console.print(f"  {prefix}*  {count}")
    return 0


def _settings(args: argparse.Namespace, **extra: object) -> RunSettings:
    """The run's settings; the models are imported here, so a module that fails to import is named before Prefect
    starts (one line, no traceback)."""
    from om_runbook.migrations.targets import discover_targets

    settings = build_settings(
        redis_url=args.redis_url,
        models=",".join(args.models),
        naive_timezone=args.naive_timezone,
        report_json=Path(args.report_json) if args.report_json else None,
        **extra,
    )
    discover_targets(settings.models)
    return settings


class _RefusalWithoutTraceback(logging.Filter):
    """Our own errors (refusals, clear failures) are logged by Prefect as their one-line message, without the
    traceback it adds: the terminal's last line is the command's own error, and the Prefect log says why."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], RunbookError):
            record.exc_info, record.exc_text = None, None
        return True


def _quiet_refusals() -> None:
    import prefect  # noqa: F401  (configures Prefect's logging handlers)

    for name in ("", "prefect.flow_runs", "prefect.task_runs"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, _RefusalWithoutTraceback) for f in handler.filters):
                handler.addFilter(_RefusalWithoutTraceback())


@contextmanager
def _prefect_ready() -> Iterator[None]:
    """The configured Prefect API, else an embedded server whose logs go to a file under PREFECT_HOME."""
    from om_runbook.flows.embedded_server import prefect_api
    from om_runbook.flows.heartbeat import heartbeats_from_flow_bodies

    _quiet_refusals()
    with prefect_api() as server, heartbeats_from_flow_bodies():
        if server is not None:
            server.wait_ready()
        yield


def _exit_code(report: RunReport, ok: set[str]) -> int:
    print_report(console, report)
    return 0 if report.status in ok else 1


def _require_reachable_prefect(auto_approve: bool) -> None:
    """Paused runs are answered through a Prefect server; the embedded one dies with this process."""
    if not auto_approve and not os.environ.get("PREFECT_API_URL"):
        raise ConfigurationError(
            "sign-off gates need a Prefect server people can reach: start one (`prefect server start`), "
            "export PREFECT_API_URL=http://127.0.0.1:4200/api, and answer in its UI or with `om-runbook approve`; "
            "or pass --auto-approve for a rehearsal"
        )


def run(args: argparse.Namespace) -> int:
    from om_runbook.flows.migration_flow import migration_flow

    _require_reachable_prefect(args.auto_approve)
    app_dir = Path(args.app_dir or os.getcwd()).resolve()
    settings = _settings(args, **run_option_values(args), resume_command=args.resume_command, app_dir=app_dir)
    with _prefect_ready():
        report = migration_flow(settings)
    return _exit_code(report, {"succeeded"})


def assess(args: argparse.Namespace) -> int:
    from om_runbook.flows.migration_flow import assessment_flow

    settings = _settings(args)
    with _prefect_ready():
        report = assessment_flow(settings)
    return _exit_code(report, {"assessed"})


def verify(args: argparse.Namespace) -> int:
    from om_runbook.flows.rollback_flow import verification_flow

    report_json = Path(args.report_json) if args.report_json else None
    with _prefect_ready():
        report = verification_flow(SecretStr(args.redis_url), Path(args.backup_dir), report_json, args.other_server)
    return _exit_code(report, {"verified"})


def rollback(args: argparse.Namespace) -> int:
    from om_runbook.flows.rollback_flow import rollback_flow

    report_json = Path(args.report_json) if args.report_json else None
    with _prefect_ready():
        url, backup_dir = SecretStr(args.redis_url), Path(args.backup_dir)
        report = rollback_flow(
            url, backup_dir, report_json=report_json, resume_command=args.resume_command, other_server=args.other_server
        )
    return _exit_code(report, {"rolled_back"})


def restore_snapshot(args: argparse.Namespace) -> int:
    from om_runbook.flows.report_view import print_restore
    from om_runbook.flows.restore_flow import restore_snapshot_flow

    if not 1 <= args.batch_size <= 100_000:
        raise ConfigurationError("--batch-size must be between 1 and 100000")
    if args.delete_extra and not args.confirm:
        console.print("--delete-extra without --confirm: the dry run lists the keys it would delete")
    url = args.target_url or args.redis_url
    if args.target_url:
        console.print(
            f"[bold red]--target-url: restoring into {redact_url(url)} without checking that it is the server the "
            "backup was taken from[/]"
        )
    with _prefect_ready():
        report = restore_snapshot_flow(
            SecretStr(url),
            Path(args.backup_dir),
            confirm=args.confirm,
            all_keys=args.all_keys,
            delete_extra=args.delete_extra,
            other_target=bool(args.target_url),
            batch_size=args.batch_size,
            rdb_tools_dir=Path(args.rdb_tools_dir) if args.rdb_tools_dir else None,  # else $OM_RUNBOOK_RDB_TOOLS_DIR
            module_dir=Path(args.module_dir) if args.module_dir else None,  # else $OM_RUNBOOK_MODULE_DIR
            report_json=Path(args.report_json) if args.report_json else None,
        )
    print_restore(console, report)
    return 0 if report.status in ("dry_run", "restored") else 1


def rehearse(args: argparse.Namespace) -> int:
    from om_runbook.flows.embedded_server import prefect_api
    from om_runbook.flows.heartbeat import heartbeats_from_flow_bodies
    from om_runbook.flows.rehearsal_flow import rehearsal_flow
    from om_runbook.tasks.io.local_redis import start_redis_server

    if args.count < 1:
        raise ConfigurationError("--count must be at least 1")
    if args.archive_dir:
        prepare_archive_copy(Path(args.archive_dir))
    with (
        tempfile.TemporaryDirectory(prefix="om-runbook-rehearsal-") as work,
        prefect_api() as prefect_server,
        heartbeats_from_flow_bodies(),
    ):
        server = start_redis_server(Path(work) / "redis", ends_with_thread=True)  # while the Prefect server starts
        backup_dir = Path(work) / "backup"
        try:
            seeded = None
            if prefect_server is not None:
                seeded = _seed_while_starting(prefect_server, server.url, args)
            settings = build_settings(
                redis_url=SecretStr(server.url),
                models="om_runbook.migrations.sample_models",
                backup_dir=backup_dir,
                chunks=args.chunks,
                parallel=args.parallel,
                auto_approve=True,
            )
            console.print(f"rehearsal on a throwaway redis-server at {server.url} ({args.count:,} legacy records)")
            result = rehearsal_flow(settings, args.count, args.dirty_share, args.seed, seeded)
        finally:
            server.stop()
            # a failed rehearsal's reports are the ones to read: kept before the throwaway directory goes
            kept = keep_archive(backup_dir, Path(args.archive_dir)) if args.archive_dir else None
    print_report(console, result.migration)
    print_rehearsal(console, result)
    for path in kept or []:  # a path is never wrapped: it is copied from the terminal
        console.print(f"report with charts: {path}", markup=False, highlight=False, soft_wrap=True)
    if args.report_json:
        write_atomically(Path(args.report_json), rehearsal_json(result))
    return 0 if result.passed else 1


def _seed_while_starting(prefect_server: EmbeddedServer, url: str, args: argparse.Namespace) -> tuple[int, int]:
    """The embedded server's cold start overlaps the seeding (it needs no Prefect); both times are printed."""
    from om_runbook.migrations.sample_data import generate_legacy_records
    from om_runbook.tasks.io.redis_nodes import open_nodes
    from om_runbook.tasks.writer.seed import write_legacy_records

    started = time.perf_counter()
    with console.status(f"seeding {args.count:,} legacy records while the Prefect server starts"):
        summary = write_legacy_records(
            open_nodes(url), generate_legacy_records(args.count, args.dirty_share, args.seed)
        )
        seeded_at = time.perf_counter() - started
        prefect_server.wait_ready()
    ready_at = time.perf_counter() - started
    console.print(
        f"seeded {summary.records:,} legacy records in {seeded_at:.1f} s while the embedded Prefect server started; "
        f"it was ready {ready_at:.1f} s after the start ({max(ready_at - seeded_at, 0.0):.1f} s of waiting after "
        "the seeding)"
    )
    return summary.records, summary.dirty


def tune(args: argparse.Namespace) -> int:
    from om_runbook.migrations.throttle import Tuning
    from om_runbook.tasks.guards.throttle import write_tuning

    try:
        change = Tuning(batch_size=args.batch_size, parallel=args.parallel, max_latency_ms=args.max_latency_ms)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid tuning: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None
    if change == Tuning():
        raise ConfigurationError("nothing to change: give --batch-size, --parallel and/or --max-latency-ms")
    merged = write_tuning(Path(args.backup_dir), change)
    print(f"om-runbook tune: {merged.model_dump(exclude_none=True)} (the running migration follows within a second)")
    return 0


def approve(args: argparse.Namespace) -> int:
    from uuid import UUID

    from prefect.flow_runs import resume_flow_run

    if not os.environ.get("PREFECT_API_URL"):
        raise ConfigurationError(
            "approve talks to the Prefect server the paused run uses: export PREFECT_API_URL (for example "
            "http://127.0.0.1:4200/api)"
        )
    try:
        run_id = UUID(args.flow_run_id)
    except ValueError:
        raise ConfigurationError(f"{args.flow_run_id!r} is not a flow run ID (a UUID)") from None
    answer = {"name": args.name, "role": args.role, "decision": "reject" if args.reject else "approve"}
    answer |= {"comment": args.comment} if args.comment else {}
    final = {
        "issues_encountered": args.issues,
        "lessons_learned": args.lessons,
        "recommendations": args.recommendations,
    }
    answer |= {name: text for name, text in final.items() if text}  # the final gate's form alone has these
    answer |= {key: True for key in args.confirm}
    try:
        resume_flow_run(run_id, run_input=answer)
    except (RuntimeError, ValueError) as exc:
        raise RunbookError(f"flow run {run_id} was not resumed: {exc}") from None
    except Exception as exc:  # the API's own errors (run not found, server down) as one line
        raise RunbookError(f"flow run {run_id} was not resumed: {type(exc).__name__}: {exc}") from None
    console.print(f"{'rejected' if args.reject else 'approved'} flow run {run_id} as {args.role} ({args.name})")
    return 0


def status(args: argparse.Namespace) -> int:
    """The run's state from its status.json (any terminal, any time); exit 0 healthy, 3 needs a person, 1 failed."""
    import socket
    import time

    from om_runbook.flows.run_lookup import flow_run_state
    from om_runbook.migrations.run_status import judge_status, status_lines
    from om_runbook.tasks.backup_store.run_status import read_status, read_timeline
    from om_runbook.tasks.io.local_process import process_alive

    backup_dir, host = Path(args.backup_dir), socket.gethostname()
    while True:
        state = read_status(backup_dir)
        now = time.time()
        alive = process_alive(state.pid) if state.host == host else True
        verdict = judge_status(state, now, host, alive)
        lines = status_lines(state, verdict, now, read_timeline(backup_dir))
        prefect_state = flow_run_state(state.flow_run_id) if state.flow_run_id else None
        if prefect_state is not None:
            lines.insert(1, f"  Prefect: flow run {prefect_state}")
        if args.watch:
            console.clear()
        print("\n".join(lines), flush=True)  # never wrapped: the commands in it are copied
        if not args.watch or verdict.state not in ("running", "waiting_for_signoff"):
            return verdict.exit_code
        time.sleep(args.interval)


def setup_notifications(args: argparse.Namespace) -> int:
    from om_runbook.flows.gate_notifications import AUTOMATION_NAME, WEBHOOK_BLOCK, set_up_gate_automation
    from om_runbook.migrations.gate_notice import is_http_url
    from om_runbook.tasks.io.webhook import webhook_host

    if not os.environ.get("PREFECT_API_URL"):
        raise ConfigurationError(
            "setup-notifications configures the Prefect server your runs use: export PREFECT_API_URL"
        )
    if not args.webhook_url or not is_http_url(args.webhook_url):
        raise ConfigurationError("give --webhook-url (or $OM_RUNBOOK_NOTIFY_WEBHOOK): an http:// or https:// URL")
    automation_id = set_up_gate_automation(args.webhook_url)
    print(
        f"automation {AUTOMATION_NAME!r} ({automation_id}) posts each waiting gate to Webhook block "
        f"{WEBHOOK_BLOCK!r} ({webhook_host(args.webhook_url)})"
    )
    return 0
