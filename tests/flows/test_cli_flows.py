"""`om-runbook` end to end: rehearse as a new user runs it, approve from a terminal, refusals before writes."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from om_runbook.flows.cli import main
from om_runbook.migrations.signoff import GateRoles
from tests.flows.helpers import children_of, is_running, keyspace, seed
from tests.flows.test_checklist_flow import FlowInThread, _gated

pytestmark = pytest.mark.usefixtures("prefect_harness")
OM_RUNBOOK = Path(sys.executable).with_name("om-runbook")


def _rehearsal_servers() -> list[str]:
    found = subprocess.run(["pgrep", "-af", "om-runbook-rehearsal-"], capture_output=True, text=True, check=False)
    return [line for line in found.stdout.splitlines() if "redis-server" in line]


def _run_in_terminal(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    """`argv` on a 160x50 pseudo-terminal, as a person at a terminal runs it: its exit code and all it printed."""
    main_fd, child_fd = pty.openpty()
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    process = subprocess.Popen(argv, stdin=child_fd, stdout=child_fd, stderr=child_fd, env=env, close_fds=True)
    os.close(child_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main_fd], [], [], 1.0)
        if ready:
            try:
                data = os.read(main_fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    os.close(main_fd)
    code = process.wait(timeout=30)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_rehearse_in_a_terminal_shows_each_phase_with_a_real_eta_proves_byte_identity_and_leaves_no_process(
    tmp_path,
):
    report_path = tmp_path / "rehearsal.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect-home"), "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "50"}
    env.pop("PREFECT_SERVER_ANALYTICS_ENABLED", None)  # a new user's environment: om-runbook turns it off itself
    argv = [str(OM_RUNBOOK), "rehearse", "--count", "60000", "--report-json", str(report_path)]
    code, shown = _run_in_terminal(argv, env, timeout=300)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert code == 0, plain[-4000:]
    assert "Traceback" not in plain and "database is locked" not in plain
    assert "Starting temporary server" not in plain  # every thread reports to the command's own embedded server
    assert "REHEARSAL PASSED" in plain
    # the embedded server's cold start overlaps the seeding, and both times are shown
    assert re.search(r"seeded 60,000 legacy records in [\d.]+ s while the embedded Prefect server started", plain)
    assert re.search(r"ready [\d.]+ s after the start", plain)
    for phase in (
        "fingerprint every key",
        "assess + backup: scan",
        "migrate: chunks",
        "verify: changed keys against the backup",
        "rollback: chunks",
    ):
        assert re.search(rf"{re.escape(phase)} done: [\d,]+ keys in [\d.]+ s \([\d,]+ keys/s\)", plain), phase
    etas = re.findall(r"([\d,]+) of ([\d,]+) keys \([\d.]+%\), ([\d,]+) keys/s, ETA (\d+:\d\d:\d\d)", plain)
    assert etas, "no live progress line with a rate and an ETA"
    assert "ETA -:--:--" not in plain
    assert (tmp_path / "prefect-home" / "om-runbook-embedded-server.log").exists()  # its logs, not the terminal's
    report = json.loads(report_path.read_text())
    assert report["status"] == "succeeded"
    assert {"assess", "backup", "migrate", "verify", "rollback"} <= set(report["phases"])
    assert report["rehearsal"]["passed"] is True
    assert report["rehearsal"]["rollback_diff"]["keys_before"] == 60000
    assert all(report["rehearsal"]["criteria"].values())
    assert [s["name"] for s in report["signoffs"]] == ["automatic (rehearsal)"] * len(report["signoffs"])
    assert _rehearsal_servers() == []


def test_run_with_gates_and_no_reachable_prefect_server_refuses_before_any_write(
    redis_server, tmp_path, monkeypatch, capsys
):
    client = redis_server.client()
    seed(client, 20)
    before = keyspace(client)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    code = main(
        [
            "run",
            "--redis-url",
            redis_server.url,
            "--models",
            "om_runbook.migrations.sample_models",
            "--backup-dir",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "sign-off gates need a Prefect server people can reach" in capsys.readouterr().err
    assert keyspace(client) == before


def test_approve_from_a_terminal_resumes_the_paused_run(redis_server, tmp_path, monkeypatch, capsys):
    client = redis_server.client()
    seed(client, 50)
    before = keyspace(client)
    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    flow = FlowInThread(_gated(redis_server.url, tmp_path / "b", signoff_roles=GateRoles(go_no_go=["Technical Lead"])))
    run_id = flow.wait_paused()
    args = ["approve", str(run_id), "--role", "Technical Lead", "--name", "Grace", "--reject", "--comment", "not today"]
    assert main([*args, "--confirm", "stakeholders_informed"]) == 0
    assert f"rejected flow run {run_id} as Technical Lead (Grace)" in capsys.readouterr().out
    report = flow.join()
    assert report.status == "not_approved"
    assert [(s.name, s.decision, s.comment, s.confirmed) for s in report.signoffs] == [
        ("Grace", "reject", "not today", ["stakeholders_informed"])
    ]
    assert keyspace(client) == before


def test_approve_explains_a_bad_run_id_and_a_missing_server(monkeypatch, capsys):
    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    assert main(["approve", "not-a-uuid", "--role", "Technical Lead", "--name", "x"]) == 2
    assert "'not-a-uuid' is not a flow run ID" in capsys.readouterr().err
    assert main(["approve", "00000000-0000-0000-0000-000000000000", "--role", "Technical Lead", "--name", "x"]) == 2
    assert "was not resumed" in capsys.readouterr().err
    monkeypatch.delenv("PREFECT_API_URL")
    assert main(["approve", "00000000-0000-0000-0000-000000000000", "--role", "Technical Lead", "--name", "x"]) == 2
    assert "export PREFECT_API_URL" in capsys.readouterr().err


def test_a_refused_run_ends_with_its_own_one_line_error_and_no_traceback(tmp_path):
    """With the embedded Prefect server: its logs are sent before it stops, and Prefect logs our error as a line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect-home")}
    argv = ["assess", "--redis-url", "redis://:LE/FT@127.0.0.1:1/0", "--models", "om_runbook.migrations.sample_models"]
    completed = subprocess.run([str(OM_RUNBOOK), *argv], env=env, capture_output=True, text=True, timeout=300)
    shown = completed.stdout + completed.stderr
    assert completed.returncode == 2, shown[-3000:]
    assert "Encountered exception during execution: ConfigurationError" in shown  # Prefect logged it, as a line
    assert "Traceback" not in shown and "Error logging to API" not in shown, shown[-3000:]
    assert completed.stderr.strip().splitlines()[-1].startswith("om-runbook assess: error: invalid Redis URL")
    assert "LE/FT" not in shown and "FT@" not in shown


def test_a_kill_9_of_the_command_leaves_no_embedded_prefect_server_and_no_throwaway_redis(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect-home")}
    process = subprocess.Popen(
        [str(OM_RUNBOOK), "rehearse", "--count", "100000"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline, children = time.monotonic() + 60, {}
        while time.monotonic() < deadline:
            children = children_of(process.pid)
            if any("uvicorn" in line for line in children.values()) and any(
                "redis-server" in line for line in children.values()
            ):
                break
            time.sleep(0.05)
        assert len(children) >= 2, children  # the embedded Prefect server and the rehearsal's redis-server
    finally:
        process.kill()  # kill -9 of om-runbook alone: its children get no word from it
        process.wait()
    deadline = time.monotonic() + 15
    while any(is_running(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [line for pid, line in children.items() if is_running(pid)]
