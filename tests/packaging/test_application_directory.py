"""`om-runbook` run from inside an application's own directory, as its users run it: installed (not editable) into
the application's venv, no PYTHONPATH, the models spread over a namespace package (async aredis_om and sync
redis_om, one module with postponed annotations), `Meta.database` from the application's settings, and the
application's own top-level `tasks.py`, `migrations/` and `flows.py` beside them."""

from __future__ import annotations

import json
import subprocess
import textwrap
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from prefect.settings import PREFECT_API_URL

from om_runbook.tasks.io.local_redis import RedisServer
from tests.installed_venv import InstalledVenv

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("installed-venv"), pytest.mark.usefixtures("prefect_harness")]

DEAD_URL = "redis://127.0.0.1:9/0"  # the application's own setting: nothing listens there during the test

APPLICATION = {
    "app/__init__.py": "",
    "app/settings.py": """
        import os

        REDIS_URL = os.environ.get("MYAPP_REDIS_URL", "redis://localhost:6379/0")
    """,
    "app/models/node.py": """
        import datetime
        from typing import Optional

        from aredis_om import Field, HashModel, get_redis_connection

        from app import settings
        from tasks import notify


        class Node(HashModel, index=True):
            name: str = Field(index=True)
            created_at: datetime.datetime = Field(index=True, sortable=True)
            seen_at: Optional[datetime.datetime] = None
            born: datetime.date

            class Meta:
                global_key_prefix = "myapp"
                database = get_redis_connection(url=settings.REDIS_URL)


        NOTIFY = notify
    """,
    "app/models/edge.py": """
        from __future__ import annotations

        import datetime

        from aredis_om import Field, JsonModel, get_redis_connection

        from app import settings
        from app.models.node import Node  # reached through two modules: counted once


        class Edge(JsonModel, index=True):
            source: str = Field(index=True)
            at: datetime.datetime = Field(index=True, sortable=True)

            class Meta:
                database = get_redis_connection(url=settings.REDIS_URL)
    """,
    "app/models/account.py": """
        import datetime
        from typing import Optional

        from redis_om import Field, HashModel, get_redis_connection

        from app import settings


        class Account(HashModel, index=True):
            owner: str = Field(index=True)
            opened_at: datetime.datetime = Field(index=True, sortable=True)
            closed_on: Optional[datetime.date] = None

            class Meta:
                database = get_redis_connection(url=settings.REDIS_URL)
    """,
    "tasks.py": """
        def notify(text):
            return "the application's notify: " + text
    """,
    "migrations/__init__.py": "",
    "migrations/0001_initial.py": "STEPS = []\n",
    "flows.py": "def nightly():\n    return 'the application flow'\n",
}

# what the application's redis-om 1.2 reads back, with its own async and sync models, from the migrated data
READ_BACK = """
import asyncio, json, sys
from datetime import datetime, timezone
from aredis_om import get_redis_connection as async_connection
from redis_om import get_redis_connection
from app.models.node import Node, NOTIFY
from app.models.edge import Edge
from app.models.account import Account
import tasks

url, has_json = sys.argv[1], sys.argv[2] == "1"
for model in (Node, Edge):
    model._meta.database = async_connection(url=url)
Account._meta.database = get_redis_connection(url=url)


def iso(value):
    return None if value is None else value.isoformat()


async def main():
    out = {"tasks_file": tasks.__file__, "notify": NOTIFY("x"), "nodes": {}, "edges": {}, "accounts": {}}
    async for pk in await Node.all_pks():
        node = await Node.get(pk)
        out["nodes"][pk] = [iso(node.created_at), iso(node.seen_at), node.born.isoformat()]
    for pk in Account.all_pks():
        account = Account.get(pk)
        out["accounts"][pk] = [iso(account.opened_at), account.closed_on and account.closed_on.isoformat()]
    if has_json:
        async for pk in await Edge.all_pks():
            out["edges"][pk] = iso((await Edge.get(pk)).at)
    cut = datetime(2024, 1, 1, tzinfo=timezone.utc)
    if len(sys.argv) > 3:
        out["queries"] = {
            "nodes_after": await Node.find(Node.created_at >= cut).count(),
            "accounts_after": Account.find(Account.opened_at >= cut).count(),
            "first_node": iso((await Node.find().sort_by("created_at").first()).created_at),
        }
        if has_json:
            out["queries"]["edges_after"] = await Edge.find(Edge.at >= cut).count()
    print(json.dumps(out))


asyncio.run(main())
"""

RECORDS = 120


def _write_application(root: Path) -> None:
    for name, text in APPLICATION.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip())


def _instant(number: int) -> datetime:
    return datetime(2023, 6, 1, 8, 30, tzinfo=timezone.utc) + timedelta(days=number * 3, microseconds=number * 1001)


def _seed_legacy(client: redis.Redis, has_json: bool) -> dict[str, dict]:
    """What redis-om 0.x wrote (isoformat strings; 0.2.2's '' for None and 0.3.5's omitted field; pydantic 2's `Z`
    in JSON), and the instants each record means."""
    expected: dict[str, dict] = {"nodes": {}, "edges": {}, "accounts": {}}
    for number in range(RECORDS):
        pk = f"01HNODE{number:05d}"
        at, born = _instant(number), date(1969, 12, 31) + timedelta(days=number)
        fields = {"pk": pk, "name": f"node {number}", "created_at": at.isoformat(), "born": born.isoformat()}
        if number % 3 == 0:
            fields["seen_at"] = ""  # 0.2.2 wrote None as an empty string
        elif number % 3 == 1:
            fields["seen_at"] = (
                (at + timedelta(hours=5)).astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
            )
        client.hset(f"myapp:app.models.node.Node:{pk}", mapping=fields)
        seen = (at + timedelta(hours=5)).isoformat() if number % 3 == 1 else None
        expected["nodes"][pk] = [at.isoformat(), seen, born.isoformat()]

        pk = f"01HACCT{number:05d}"
        closed = date(2024, 2, 29) + timedelta(days=number) if number % 2 else None
        fields = {"pk": pk, "owner": f"owner {number}", "opened_at": (at - timedelta(days=400)).isoformat()}
        if closed:
            fields["closed_on"] = closed.isoformat()
        client.hset(f":app.models.account.Account:{pk}", mapping=fields)
        expected["accounts"][pk] = [(at - timedelta(days=400)).isoformat(), closed and closed.isoformat()]

        if has_json:
            pk = f"01HEDGE{number:05d}"
            document = {"pk": pk, "source": f"01HNODE{number:05d}", "at": at.isoformat().replace("+00:00", "Z")}
            client.execute_command("JSON.SET", f":app.models.edge.Edge:{pk}", "$", json.dumps(document))
            expected["edges"][pk] = at.isoformat()
    return expected


def _keyspace(client: redis.Redis) -> dict[bytes, object]:
    content: dict[bytes, object] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"hash":
            content[key] = client.hgetall(key)
        elif kind == b"ReJSON-RL":
            content[key] = client.execute_command("JSON.GET", key)
    return content


def _om_runbook(venv: InstalledVenv, app: Path, *argv: str) -> subprocess.CompletedProcess:
    env = venv.env(PREFECT_API_URL=str(PREFECT_API_URL.value()), MYAPP_REDIS_URL=DEAD_URL, TZ="America/New_York")
    return subprocess.run([str(venv.om_runbook), *argv], cwd=app, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("server_name", ["redis_server", "redis_stack_server"])
def test_run_from_the_application_directory_migrates_every_models_module_and_rolls_back_byte_identical(
    installed_venv: InstalledVenv, request, tmp_path, server_name
):
    server: RedisServer = request.getfixturevalue(server_name)
    client = server.client()
    has_modules = server_name == "redis_stack_server"
    app = tmp_path / "myapp"
    _write_application(app)
    expected = _seed_legacy(client, has_modules)
    before = _keyspace(client)
    backup = str(tmp_path / "backup")
    url = server.url

    assessed = _om_runbook(installed_venv, app, "assess", "--redis-url", url, "--models", "app.models")
    assert assessed.returncode == 0, assessed.stderr[-3000:]

    report = tmp_path / "run.json"
    ran = _om_runbook(
        installed_venv, app, "run", "--redis-url", url, "--models", "app.models", "--backup-dir", backup,
        "--auto-approve", "--no-rdb-snapshot", "--report-json", str(report),
    )  # fmt: skip
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-4000:]
    outcome = json.loads(report.read_text())
    assert outcome["status"] == "succeeded"
    verify = outcome["phases"]["verify"]["details"]
    # the sample covers every model with data, the async ones included, read through the run's Redis (the
    # application's own setting points at a port where nothing listens)
    models_with_data = 3 if has_modules else 2
    assert verify["sample_loaded"] == verify["sample_equal"] >= 8 * models_with_data
    assert verify["sample_failed"] == 0 and verify["sample_connection"] == "sample read through the run's connection"
    if has_modules:
        assert verify["search_checks"].startswith("passed"), verify["search_checks"]
    migrated = _keyspace(client)
    node = migrated[b"myapp:app.models.node.Node:01HNODE00001"]
    assert node[b"created_at"] == repr(_instant(1).timestamp()).encode()  # redis-om 1.2's own form
    assert node[b"born"] == repr(datetime(1970, 1, 1, tzinfo=timezone.utc).timestamp()).encode()

    read_back = subprocess.run(
        [str(installed_venv.python), "-c", READ_BACK, url, *(["1", "q"] if has_modules else ["0"])],
        cwd=app, env=installed_venv.env(MYAPP_REDIS_URL=DEAD_URL),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert read_back.returncode == 0, read_back.stderr[-3000:]
    seen = json.loads(read_back.stdout.strip().splitlines()[-1])
    assert Path(seen["tasks_file"]) == app / "tasks.py"
    assert seen["notify"] == "the application's notify: x"
    assert seen["nodes"] == {pk: [_utc(a), _utc(s), b] for pk, (a, s, b) in expected["nodes"].items()}
    assert seen["accounts"] == {pk: [_utc(a), c] for pk, (a, c) in expected["accounts"].items()}
    assert seen["edges"] == {pk: _utc(a) for pk, a in expected["edges"].items()}
    if has_modules:
        cut = datetime(2024, 1, 1, tzinfo=timezone.utc)
        after = sum(1 for a, _s, _b in expected["nodes"].values() if datetime.fromisoformat(a) >= cut)
        assert seen["queries"]["nodes_after"] == after == seen["queries"]["edges_after"]
        assert seen["queries"]["first_node"] == _utc(_instant(0).isoformat())

    verified = _om_runbook(installed_venv, app, "verify", "--redis-url", url, "--backup-dir", backup)
    assert verified.returncode == 0, (verified.stdout + verified.stderr)[-3000:]
    rolled = _om_runbook(installed_venv, app, "rollback", "--redis-url", url, "--backup-dir", backup)
    assert rolled.returncode == 0, (rolled.stdout + rolled.stderr)[-3000:]
    after_rollback = _keyspace(client)
    assert {k: v for k, v in after_rollback.items() if k in before} == before
    status = _om_runbook(installed_venv, app, "status", "--backup-dir", backup)
    assert "Traceback" not in status.stdout + status.stderr


def _utc(text: str | None) -> str | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(timezone.utc).isoformat()


def test_a_models_module_that_fails_to_import_is_named_in_one_line(installed_venv: InstalledVenv, tmp_path):
    app = tmp_path / "myapp"
    _write_application(app)
    (app / "app" / "models" / "broken.py").write_text("from app.nowhere import Thing\n")
    ran = _om_runbook(installed_venv, app, "assess", "--redis-url", DEAD_URL, "--models", "app.models")
    assert ran.returncode == 2
    assert "cannot import models module 'app.models.broken': ModuleNotFoundError: No module named 'app.nowhere'" in (
        ran.stderr
    )
    assert "Traceback" not in ran.stderr + ran.stdout


def test_without_app_dir_on_the_path_the_run_names_the_missing_package(installed_venv: InstalledVenv, tmp_path):
    app = tmp_path / "myapp"
    _write_application(app)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ran = _om_runbook(installed_venv, elsewhere, "assess", "--redis-url", DEAD_URL, "--models", "app.models")
    assert ran.returncode == 2 and "No module named 'app'" in ran.stderr
    # --app-dir names the application's directory from anywhere
    named = _om_runbook(
        installed_venv, elsewhere, "assess", "--redis-url", DEAD_URL, "--models", "app.models", "--app-dir", str(app)
    )
    assert "cannot import" not in named.stderr and "cannot connect to Redis" in named.stderr + named.stdout
