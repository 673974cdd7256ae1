"""rediss:// with an ACL user and password, end to end through the CLI: TLS options pass through to every
connection (redis-py, the probe process, redis-cli for the snapshot), and the password shows up nowhere the
user or the team can read: terminal output, Prefect logs, artifacts, the report, the backup directory."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from om_runbook.flows.cli import main
from om_runbook.tasks.io.local_redis import RedisServer, free_port, reap_all
from tests.flows.helpers import keyspace, seed
from tests.redis_stack import start_stack_server
from tests.tls_front import tls_front

pytestmark = pytest.mark.usefixtures("prefect_harness")
PASSWORD = "tls-Secret-9f3a"


def _write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.crt, server.crt, server.key)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "om-runbook test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return (
        _write_pem(directory / "ca.crt", ca.public_bytes(pem)),
        _write_pem(directory / "server.crt", server.public_bytes(pem)),
        _write_pem(
            directory / "server.key",
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        ),
    )


def _prefect_logs_and_artifacts() -> str:
    """Every log line and artifact the Prefect API holds (this session's harness), page by page."""
    from prefect.client.orchestration import get_client

    texts: list[str] = []
    with get_client(sync_client=True) as client:
        for read, show in (
            (lambda offset: client.read_logs(limit=200, offset=offset), lambda log: log.message),
            (lambda offset: client.read_artifacts(limit=200, offset=offset), lambda a: json.dumps(a.data)),
        ):
            offset = 0
            while page := read(offset):
                texts += [show(item) for item in page]
                offset += len(page)
    return "\n".join(texts)


@contextlib.contextmanager
def _redis_with_tls(start: Callable[..., RedisServer], directory: Path) -> Iterator[tuple[RedisServer, int, Path]]:
    """(server, TLS port, CA file): Redis 7.0 with its own TLS port, or Redis 8.2 with modules behind a TLS front (the
    PyPI 8.2 build has no TLS: "Failed finding TLS support")."""
    ca, certificate, key = make_certificates(directory)
    if start is start_stack_server:
        server = start(directory / "redis")
        try:
            with tls_front(server.port, certificate, key) as tls_port:
                yield server, tls_port, ca
        finally:
            reap_all([server])
        return
    tls_port = free_port()
    server = start(
        directory / "redis",
        "--tls-port", str(tls_port),
        "--tls-cert-file", str(certificate),
        "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(ca),
        "--tls-auth-clients", "no",
        "--tls-replication", "yes",
    )  # fmt: skip
    try:
        yield server, tls_port, ca
    finally:
        reap_all([server])


def test_a_tls_url_with_an_acl_user_runs_end_to_end_and_the_password_never_shows(any_redis_start, tmp_path, capsys):
    with _redis_with_tls(any_redis_start, tmp_path) as (server, tls_port, ca):
        client = server.client()
        client.execute_command("ACL", "SETUSER", "migrator", "on", f">{PASSWORD}", "~*", "&*", "+@all")
        seed(client, 500)
        before = keyspace(client)
        url = f"rediss://migrator:{PASSWORD}@127.0.0.1:{tls_port}/0?ssl_ca_certs={ca}"
        backup_dir = tmp_path / "backup"
        report_path = tmp_path / "report.json"
        common = ["--redis-url", url, "--backup-dir", str(backup_dir)]
        run = ["run", *common, "--models", "om_runbook.migrations.sample_models", "--auto-approve"]
        code = main([*run, "--report-json", str(report_path)])
        output = capsys.readouterr()
        report = json.loads(report_path.read_text())
        assert code == 0, output.err
        assert report["status"] == "succeeded"
        assert report["redis"] == f"rediss://migrator:***@127.0.0.1:{tls_port}/0?ssl_ca_certs={ca}"
        assert report["phases"]["backup"]["details"]["snapshot"]["restore_tested"] is True  # redis-cli --tls
        assert report["system"]["migration_latency"]["samples"] > 0  # the probe process connected over TLS
        assert main(["rollback", *common]) == 0
        assert keyspace(client) == before

        rollback_output = capsys.readouterr()
        seen = [output.out, output.err, rollback_output.out, rollback_output.err, _prefect_logs_and_artifacts()]
        files = [path for path in backup_dir.rglob("*") if path.is_file() and path.suffix != ".rdb"]
        seen += [path.read_text(errors="replace") for path in files]
        seen += [report_path.read_text()]
        assert all(PASSWORD not in text for text in seen)
        assert any("rediss://migrator:***@" in text for text in seen)
        assert "Beginning flow run" in seen[4] and "resource peak" in seen[4]  # logs and artifacts were read


def test_a_tls_url_to_a_plain_port_is_a_clear_error(any_redis_server, tmp_path, capsys):
    url = f"rediss://:{PASSWORD}@127.0.0.1:{any_redis_server.port}/0"
    code = main(["assess", "--redis-url", url, "--models", "om_runbook.migrations.sample_models"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot connect to Redis at rediss://:***@127.0.0.1:" in err and PASSWORD not in err


RESERVED_PASSWORD = "Lx7a/Qz8b#Wk9c?Vb1d@Ry2e:Tn3f%Pm4g&Hs5h=Jk6i Mn7j'No8k+Op9l"
PIECES = [piece for piece in re.split(r"[/#?@:%&= '+]", RESERVED_PASSWORD)]


def test_a_password_with_every_reserved_character_never_shows_encoded_or_not(any_redis_server, tmp_path, capsys):
    client = any_redis_server.client()
    client.execute_command("ACL", "SETUSER", "migrator", "on", f">{RESERVED_PASSWORD}", "~*", "&*", "+@all")
    seed(client, 200)
    before = keyspace(client)
    encoded = f"redis://migrator:{quote(RESERVED_PASSWORD, safe='')}@127.0.0.1:{any_redis_server.port}/0"
    raw = f"redis://migrator:{RESERVED_PASSWORD}@127.0.0.1:{any_redis_server.port}/0"
    models = ["--models", "om_runbook.migrations.sample_models"]
    refused = main(["run", "--redis-url", raw, *models, "--auto-approve", "--backup-dir", str(tmp_path / "refused")])
    refusal = capsys.readouterr()
    assert refused == 2 and "percent-encoded" in refusal.err and not (tmp_path / "refused").exists()
    backup = str(tmp_path / "backup")
    report_path = tmp_path / "report.json"
    ran = main(["run", "--redis-url", encoded, *models, "--auto-approve", "--backup-dir", backup,
                "--report-json", str(report_path), "--no-rdb-snapshot"])  # fmt: skip
    output = capsys.readouterr()
    assert ran == 0, output.err
    assert main(["rollback", "--redis-url", encoded, "--backup-dir", backup]) == 0
    assert keyspace(client) == before
    rolled = capsys.readouterr()
    seen = [refusal.out, refusal.err, output.out, output.err, rolled.out, rolled.err, _prefect_logs_and_artifacts()]
    seen += [path.read_text(errors="replace") for path in Path(backup).rglob("*") if path.is_file()]
    seen += [report_path.read_text()]
    assert all(piece not in text for piece in PIECES for text in seen), [
        (piece, text[text.index(piece) - 80 : text.index(piece) + 20]) for piece in PIECES for text in seen
        if piece in text
    ]  # fmt: skip
    assert any("redis://migrator:***@127.0.0.1" in text for text in seen)


def _command_lines() -> dict[int, str]:
    """Every process's command line now, as `ps -ef` shows it."""
    lines: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue  # ended meanwhile
    return lines


def test_no_process_of_a_run_shows_the_password_on_its_command_line(any_redis_server, tmp_path, capsys):
    """The run given its URL in $REDIS_OM_URL, with the RDB snapshot (redis-cli), the probe process and scan workers:
    the process list, read every few milliseconds while it runs, never holds the password or a piece of it."""
    from tests.faults.test_kill_and_resume import OM_RUNBOOK, _env

    client = any_redis_server.client()
    client.execute_command("ACL", "SETUSER", "migrator", "on", f">{RESERVED_PASSWORD}", "~*", "&*", "+@all")
    seed(client, 3000)
    encoded = f"redis://migrator:{quote(RESERVED_PASSWORD, safe='')}@127.0.0.1:{any_redis_server.port}/0"
    command = [str(OM_RUNBOOK), "run", "--models", "om_runbook.migrations.sample_models", "--auto-approve",
               "--backup-dir", str(tmp_path / "backup"), "--workers", "2", "--chunks", "4",
               "--batch-size", "10"]  # fmt: skip
    seen: dict[int, str] = {}
    process = subprocess.Popen(
        command, env=_env(tmp_path) | {"REDIS_OM_URL": encoded}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    while process.poll() is None:
        seen.update(_command_lines())
        time.sleep(0.005)
    output = process.stdout.read().decode()
    assert process.returncode == 0, output[-3000:]
    assert "ps -ef" not in output  # no note: the URL came from the environment
    started = " ".join(seen.values())
    # the sampling caught the run's children (the spawned scan workers live longest; the probe process, started
    # with a fixed command line and the URL on its stdin, is caught on most runs)
    assert "multiprocessing" in started, [line for line in seen.values() if "python" in line]
    assert not [(pid, line) for pid, line in seen.items() for piece in PIECES if piece in line]
    capsys.readouterr()
    assert main(["assess", "--redis-url", encoded, "--models", "om_runbook.migrations.sample_models"]) == 0
    noted = capsys.readouterr().err
    assert "shows in the process list (ps -ef)" in noted and "$REDIS_OM_URL" in noted


def test_redis_cli_gets_the_password_in_its_environment_never_in_its_arguments():
    """redis-cli for the snapshot lives too briefly for the process-list test to catch it reliably: its arguments."""
    from om_runbook.tasks.backup_store.snapshot import redis_cli_connection

    encoded = f"rediss://migrator:{quote(RESERVED_PASSWORD, safe='')}@127.0.0.1:6390/0?ssl_ca_certs=/tmp/ca.crt"
    args, env = redis_cli_connection(encoded)
    assert env["REDISCLI_AUTH"] == RESERVED_PASSWORD
    assert not [piece for piece in PIECES for arg in args if piece in arg], args
    assert args[:6] == ["-h", "127.0.0.1", "-p", "6390", "--user", "migrator"]
