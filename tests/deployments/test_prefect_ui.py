"""The Prefect UI in a real headless Chromium (Debian's chromium and chromium-driver, driven by selenium), against
a real `prefect server start`: sign-off forms answered in the browser, the deployment's Run form, the artifacts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from om_runbook.migrations.checklist import CHECKLIST
from om_runbook.migrations.run_status import RunStatus
from om_runbook.migrations.signoff import CONFIRMATIONS
from om_runbook.tasks.backup_store.run_status import status_path
from tests.deployments.prefect_processes import ROOT, heartbeat_times, prefect_cli, run_script, start_worker, stop
from tests.flows.helpers import keyspace, seed
from tests.webhook_server import Webhook

# one worker holds the package's Prefect server (xdist: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("prefect-server")
OM_RUNBOOK = Path(sys.executable).with_name("om-runbook")
IMPLICIT_WAIT_SECONDS = 20
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOTS = os.environ.get("OM_RUNBOOK_SCREENSHOTS_DIR")  # e.g. docs/ to refresh the README's pictures

# the checklist item the go/no-go box `stakeholders_informed` ticks
INFORMED = next(text for _section, items in CHECKLIST for text, key in items if key == "stakeholders_informed")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """A failure to start Chromium fails the tests (`make setup` installs it); it is never a skip."""
    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), "run `make setup` (apt chromium chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for the report's no-errors check
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",  # this machine's network is closed: no calls home
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1500",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(IMPLICIT_WAIT_SECONDS)
    yield driver
    driver.quit()


def _shot(driver: WebDriver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    driver.save_screenshot(str(path))
    if SCREENSHOTS:
        shutil.copy(path, Path(SCREENSHOTS) / name)
    return path


def _tall_shot(driver: WebDriver, tmp_path: Path, name: str) -> Path:
    """The whole page in one picture (the window as tall as the page's content), for a long artifact."""
    height = driver.execute_script(
        "return Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight), 1500)"
    )
    driver.set_window_size(1400, min(int(height) + 200, 9000))
    try:
        return _shot(driver, tmp_path, name)
    finally:
        driver.set_window_size(1400, 1500)


def _om_runbook(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    argv = [str(OM_RUNBOOK), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _run_command(redis_url: str, backup_dir: Path) -> list[str]:
    return [str(OM_RUNBOOK), "run", "--redis-url", redis_url, "--models", "om_runbook.migrations.sample_models",
            "--backup-dir", str(backup_dir)]  # fmt: skip


def _user_data_of(content: dict) -> dict:
    return {key: value for key, value in content.items() if not key.startswith(b"om-runbook:")}


def _user_data(client) -> dict:
    return _user_data_of(keyspace(client))


def _run_status(backup_dir: Path) -> RunStatus | None:
    try:
        return RunStatus.model_validate_json(status_path(backup_dir).read_text())
    except (OSError, ValueError):
        return None


def _wait_for_gate(backup_dir: Path, waiting_for: list[str], process: subprocess.Popen, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _run_status(backup_dir)
        if status is not None and status.gate is not None and status.gate.waiting_for == waiting_for:
            return status
        assert process.poll() is None, "the run ended before its gate"
        time.sleep(0.3)
    raise AssertionError(f"no gate waiting for {waiting_for}: {_run_status(backup_dir)}")


def _find_now(scope, by: str, value: str) -> list:
    """find_elements without the driver's implicit wait: an empty answer (a select with no options, an element that
    must be absent) is final at once, not after 20 s."""
    driver = getattr(scope, "parent", scope)
    driver.implicitly_wait(0)
    try:
        return scope.find_elements(by, value)
    finally:
        driver.implicitly_wait(IMPLICIT_WAIT_SECONDS)


def _select_offering(modal, text: str):
    for select in _find_now(modal, By.CSS_SELECTOR, "select"):
        if any(option.text == text for option in _find_now(select, By.TAG_NAME, "option")):
            return select
    return None


def _wait_paused(env: dict[str, str], backup_dir: Path, pause_key: str) -> None:
    """Until the Prefect server itself shows the run paused at `pause_key` (the form the browser will load)."""
    deadline = time.monotonic() + 60
    shown = ""
    while time.monotonic() < deadline:
        shown = _om_runbook(env, "status", "--backup-dir", str(backup_dir)).stdout
        if f"Prefect: flow run Paused ({pause_key})" in shown:
            return
        time.sleep(0.5)
    raise AssertionError(f"not paused at {pause_key}: {shown}")


def _open_resume_form(driver: WebDriver, run_url: str):
    driver.get(run_url)
    driver.find_element(By.XPATH, "//button[normalize-space()='Resume']").click()
    return driver.find_element(
        By.XPATH, "//*[normalize-space()='Resume Flow Run']/ancestor::*[contains(@class,'p-modal')][1]"
    )


def _answer_in_browser(
    driver: WebDriver, run_url: str, name: str, role: str, decision: str, comment: str, confirm: tuple[str, ...] = ()
) -> None:
    """What a person does: open the run, click Resume, fill in the sign-off form, tick the boxes of the checklist
    items `confirm` (their texts), submit."""
    modal = _open_resume_form(driver, run_url)
    role_select = WebDriverWait(driver, 30).until(lambda _: _select_offering(modal, role))
    Select(role_select).select_by_visible_text(role)
    Select(_select_offering(modal, decision)).select_by_visible_text(decision)
    textareas = _find_now(modal, By.CSS_SELECTOR, "textarea")
    textareas[0].send_keys(name)
    textareas[-1].send_keys(comment)
    for text in confirm:
        described = modal.find_element(By.XPATH, f".//*[normalize-space()='confirm: {text}']")
        box = described.find_element(By.XPATH, "./following::input[@type='checkbox'][1]")
        driver.execute_script("arguments[0].click();", box)  # the UI's toggle hides the input under its knob
        assert box.is_selected(), text
    modal.find_element(By.XPATH, ".//button[normalize-space()='Submit']").click()


def _gate_notice(webhook: Webhook, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gates = [body["text"] for body in webhook.bodies if " is waiting for " in body["text"]]
        if gates:
            return gates[0]
        time.sleep(0.2)
    raise AssertionError(f"no gate notice reached the webhook: {webhook.bodies}")


def _form_text(driver: WebDriver, run_url: str) -> tuple[str, list[str]]:
    modal = _open_resume_form(driver, run_url)
    time.sleep(1)  # the description renders after the form's schema
    options = [o.text for s in _find_now(modal, By.CSS_SELECTOR, "select") for o in _find_now(s, By.TAG_NAME, "option")]
    return modal.text, options


def test_sign_off_in_the_browser_resumes_the_run_and_a_rejection_leaves_every_byte(
    prefect_server, browser, redis_server, tmp_path
):
    env = prefect_server
    webhook = Webhook()
    try:
        set_up = _om_runbook(env, "setup-notifications", "--webhook-url", webhook.url)
        assert set_up.returncode == 0, set_up.stderr
        client = redis_server.client()
        seed(client, 300, dirty_share=0.02)
        before = keyspace(client)
        backup_dir, report = tmp_path / "backup", tmp_path / "report.json"
        log = open(tmp_path / "run.log", "w")  # noqa: SIM115 - closed below
        run = subprocess.Popen(
            [
                *_run_command(redis_server.url, backup_dir),
                "--roles",
                "go-no-go=Technical Lead,Database Administrator",
                "--gate-poll",
                "1",
                "--report-json",
                str(report),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            status = _wait_for_gate(backup_dir, ["Technical Lead", "Database Administrator"], run)
            run_url = status.ui_url
            _wait_paused(env, backup_dir, "go-no-go-0")
            assert run_url == f"{env['PREFECT_UI_URL']}/runs/flow-run/{status.flow_run_id}"

            # the automation on prefect.flow-run.Paused, through the block (the start notice may come before it)
            notice = _gate_notice(webhook)
            assert "sign-off go-no-go is waiting for Technical Lead, Database Administrator." in notice
            assert run_url in notice and f"om-runbook approve {status.flow_run_id} --role 'Technical Lead'" in notice
            assert "secret-token" not in notice

            text, options = _form_text(browser, run_url)
            _shot(browser, tmp_path, "signoff-form.png")
            assert "Sign-off: go-no-go" in text and "keys scanned: 300" in text
            assert "estimated duration: under a second" in text and "sha256" in text
            assert "recovery time (RTO): logical rollback" in text and "; snapshot restore" in text
            assert "Lessons" not in text and "lessons" not in text  # only the final gate asks
            for item in CONFIRMATIONS["go-no-go"]:  # the person's checklist items due at this gate, and only those
                assert f"confirm: {item[1]}" in text, text
            assert "Monitoring thresholds" not in text and "Application started and tested" not in text
            assert [o for o in options if o in ("Technical Lead", "Database Administrator", "Operations Manager")] == [
                "Technical Lead",
                "Database Administrator",
            ]

            informed = CONFIRMATIONS["go-no-go"][0][1]
            _answer_in_browser(
                browser, run_url, "Grace Hopper", "Technical Lead", "approve", "backup checked", confirm=(informed,)
            )
            _wait_for_gate(backup_dir, ["Database Administrator"], run)  # the run recorded it, waits for the next
            _wait_paused(env, backup_dir, "go-no-go-1")
            assert (
                "sign-off go-no-go: Grace Hopper (Technical Lead) answered approve"
                in (tmp_path / "run.log").read_text()
            )
            assert _user_data(client) == _user_data_of(before)  # nothing written before the go (the lease aside)

            _answer_in_browser(browser, run_url, "Edgar Codd", "Database Administrator", "reject", "not tonight")
            assert run.wait(timeout=120) == 1
        finally:
            if run.poll() is None:
                run.kill()
            log.close()
    finally:
        webhook.close()
    outcome = json.loads(report.read_text())
    assert outcome["status"] == "not_approved", outcome["messages"]
    assert [(s["name"], s["role"], s["decision"], s["comment"], s["confirmed"]) for s in outcome["signoffs"]] == [
        ("Grace Hopper", "Technical Lead", "approve", "backup checked", ["stakeholders_informed"]),
        ("Edgar Codd", "Database Administrator", "reject", "not tonight", []),
    ]
    checklist = (backup_dir / "archive" / "checklist.md").read_text()
    assert "- [x] " + INFORMED + ": confirmed by Grace Hopper (Technical Lead)" in (checklist)
    assert "- [ ] Staging environment mirrors production: not confirmed: left open by Grace Hopper (Technical" in (
        checklist
    )
    assert keyspace(client) == before
    # the gated run's checklist artifact in the UI: the box Grace ticked, with her name
    found = run_script(ARTIFACT_SCRIPT, {"flow_run_id": outcome["flow_run_id"]}, env)
    artifacts = json.loads(found.stdout.strip().splitlines()[-1])
    browser.get(f"{env['PREFECT_UI_URL']}/artifacts/artifact/{artifacts['migration-checklist']}")
    browser.find_element(By.XPATH, "//*[contains(normalize-space(), 'confirmed by Grace Hopper (Technical Lead)')]")
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "left open by Grace Hopper (Technical Lead)" in page and "Escalation Contacts" in page
    _tall_shot(browser, tmp_path, "checklist-gated-run.png")


ARTIFACT_SCRIPT = r"""
import json, sys, uuid
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
request = json.loads(sys.stdin.read())
runs = ArtifactFilterFlowRunId(any_=[uuid.UUID(request["flow_run_id"])])
with get_client(sync_client=True) as client:
    found = [a for a in client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=runs)) if a.key]
print(json.dumps({a.key: str(a.id) for a in found}))
"""


def test_the_kpi_and_checklist_artifacts_read_in_the_browser(prefect_server, browser, redis_server, tmp_path):
    env = prefect_server
    seed(redis_server.client(), 300, dirty_share=0.02)
    backup_dir = tmp_path / "backup"
    completed = subprocess.run(
        [*_run_command(redis_server.url, backup_dir), "--auto-approve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    status = _run_status(backup_dir)
    assert status is not None and status.outcome == "succeeded"
    found = run_script(ARTIFACT_SCRIPT, {"flow_run_id": status.flow_run_id}, env)
    artifacts = json.loads(found.stdout.strip().splitlines()[-1])
    base = env["PREFECT_UI_URL"]

    browser.get(f"{base}/artifacts/artifact/{artifacts['migration-kpis']}")
    browser.find_element(By.XPATH, "//*[normalize-space()='error rate']")
    kpis = browser.find_element(By.TAG_NAME, "body").text
    _shot(browser, tmp_path, "kpi-artifact.png")
    assert "success rate" in kpis and "< 1%" in kpis and "met" in kpis
    assert "> 99%" in kpis and "\\> 99%" not in kpis  # the target as text, escaped from markdown's block quote
    assert not _find_now(browser, By.TAG_NAME, "blockquote")

    browser.get(f"{base}/artifacts/artifact/{artifacts['migration-checklist']}")
    browser.find_element(By.XPATH, "//*[contains(normalize-space(), 'Data integrity checks passed')]")
    page = browser.find_element(By.TAG_NAME, "body").text
    for section in ("Communication Plan", "Escalation Contacts", "Success Criteria", "Post-Migration Actions"):
        assert section in page, section
    assert "only a person can do this" not in page and "left open by automatic (rehearsal)" in page
    assert "**" not in page  # markdown the UI does not render in a task list item shows its asterisks
    _tall_shot(browser, tmp_path, "checklist-artifact.png")


def _check_report_page(browser: WebDriver, page: Path, chunks: int) -> None:
    """Opened from the file alone: no console error, every chart drawn from data, one timeline row per chunk."""
    browser.get_log("browser")  # what earlier pages logged is theirs
    browser.get(page.as_uri())
    browser.find_element(By.TAG_NAME, "h1")
    assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []
    figures = {figure.get_attribute("data-chart"): figure for figure in browser.find_elements(By.TAG_NAME, "figure")}
    assert set(figures) == {"timeline", "throughput", "latency", "resources", "value-classes"}
    for name, figure in figures.items():
        assert int(figure.get_attribute("data-points")) > 0, name
        chart = figure.find_element(By.TAG_NAME, "svg")
        assert browser.execute_script("return arguments[0].getBoundingClientRect().width", chart) > 0, name
        drawn = "return arguments[0].querySelectorAll('rect, polyline, circle').length"
        assert browser.execute_script(drawn, chart) > 0, name
    timeline = figures["timeline"]
    assert int(timeline.get_attribute("data-chunk-rows")) == chunks
    assert int(timeline.get_attribute("data-chunk-bars")) >= chunks


def test_the_rehearsal_reports_open_in_the_browser_and_the_run_carries_a_migration_report(
    prefect_server, browser, tmp_path
):
    env, archive = prefect_server, tmp_path / "archive"
    completed = _om_runbook(
        env, "rehearse", "--count", "40000", "--chunks", "4", "--archive-dir", str(archive), timeout=300
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert f"report with charts: {archive / 'run-report.html'}" in completed.stdout.splitlines()

    _check_report_page(browser, archive / "run-report.html", chunks=4)
    browser.set_window_size(1400, 2600)
    _shot(browser, tmp_path, "run-report.png")
    browser.set_window_size(1400, 1500)
    _check_report_page(browser, archive / "rollback-report.html", chunks=4)

    flow_run_id = json.loads((archive / "run-report.json").read_text())["flow_run_id"]
    # the command line's flows send their heartbeats themselves, and Prefect's own thread is off: one at the start
    # and one per 180 s, not two at once
    beats = heartbeat_times(env, flow_run_id)
    assert beats and all(later - earlier > 25 for earlier, later in zip(beats, beats[1:], strict=False)), beats
    artifacts = json.loads(
        run_script(ARTIFACT_SCRIPT, {"flow_run_id": flow_run_id}, env).stdout.strip().splitlines()[-1]
    )
    browser.get(f"{env['PREFECT_UI_URL']}/artifacts/artifact/{artifacts['migration-report']}")
    browser.find_element(By.XPATH, "//*[normalize-space()='Over time']")
    text = browser.find_element(By.TAG_NAME, "body").text
    _shot(browser, tmp_path, "migration-report-artifact.png")
    assert "Migration report: succeeded" in text and "migrate: chunks" in text
    assert re.search(r"[▁▂▃▄▅▆▇█]{2,}", text), "no sparkline rendered"
    assert "run-report.html" in text and "> 99%" in text and not _find_now(browser, By.TAG_NAME, "blockquote")


SECRET_SCRIPT = r"""
import json, sys
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
request = json.loads(sys.stdin.read())
Secret(value=request["redis_url"]).save("om-runbook-production-redis-url", overwrite=True)
with get_client(sync_client=True) as client:
    print(client.read_deployment_by_name("om-production-migration/production-migration").id)
"""


def test_the_deployment_run_form_starts_a_run_that_pauses_at_go_no_go(prefect_server, browser, redis_server, tmp_path):
    env = prefect_server
    seed(redis_server.client(), 200)
    before = keyspace(redis_server.client())
    deployment_id = run_script(SECRET_SCRIPT, {"redis_url": redis_server.url}, env).stdout.strip().splitlines()[-1]
    backup_dir = tmp_path / "deployment-backup"
    worker_log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed below
    worker = start_worker(env, worker_log)
    try:
        browser.get(f"{env['PREFECT_UI_URL']}/deployments/deployment/{deployment_id}")
        browser.find_element(By.XPATH, "//button[normalize-space()='Run']").click()
        browser.find_element(By.XPATH, "//*[normalize-space()='Custom run']").click()
        for label, value in (("models", "om_runbook.migrations.sample_models"), ("backup_dir", str(backup_dir))):
            box = browser.find_element(By.XPATH, f"//*[normalize-space(text())='{label}']/following::textarea[1]")
            box.send_keys(value)
            WebDriverWait(browser, 30).until(lambda _, box=box, value=value: box.get_attribute("value") == value)
        _shot(browser, tmp_path, "deployment-run-form.png")
        browser.find_element(By.XPATH, "//button[normalize-space()='Submit']").click()
        try:  # the UI's toast once the server took the run (a form it refused says why on the page instead)
            WebDriverWait(browser, 60).until(
                lambda _: "scheduled to start" in _find_now(browser, By.TAG_NAME, "body")[0].text
            )
        except TimeoutException:
            raise AssertionError(browser.find_element(By.TAG_NAME, "body").text[-3000:]) from None
        deadline = time.monotonic() + 360  # a loaded 2-core machine: worker poll, flow-run process start, the backup
        status = None
        while time.monotonic() < deadline:
            status = _run_status(backup_dir)
            if status is not None and status.gate is not None:
                break
            time.sleep(0.5)
        runs = prefect_cli(env, "flow-run", "ls", "--limit", "5")
        assert status is not None and status.gate is not None, (runs, (tmp_path / "worker.log").read_text()[-3000:])
        assert status.gate.gate == "go-no-go" and status.gate.waiting_for == [
            "Technical Lead",
            "Database Administrator",
        ]
        assert _user_data(redis_server.client()) == _user_data_of(before)
        answer = ("--role", "Technical Lead", "--name", "Ada", "--reject")
        rejected = _om_runbook(env, "approve", status.flow_run_id, *answer)
        assert rejected.returncode == 0, rejected.stderr
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (_run_status(backup_dir) or status).outcome is None:
            time.sleep(0.5)
        assert _run_status(backup_dir).outcome == "not_approved"
    finally:
        stop(worker)
        worker_log.close()
    assert keyspace(redis_server.client()) == before
