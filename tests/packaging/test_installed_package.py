"""The wheel installed into a fresh venv: everything under om_runbook, nothing at the top level that could shadow an
application's own `tasks.py`, `migrations/` or `flows.py`, and every module of the repository in it."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.installed_venv import ROOT, InstalledVenv

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("installed-venv")]

IMPORT_EVERYTHING = r"""
import json, pkgutil, sys
import om_runbook.flows, om_runbook.tasks, om_runbook.migrations
names = []
for package in (om_runbook.flows, om_runbook.tasks, om_runbook.migrations):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        __import__(info.name)
        names.append(info.name)
top = sorted({name.split(".")[0] for name in sys.modules} & {"tasks", "flows", "migrations", "deployments"})
print(json.dumps({"modules": names, "top_level_of_ours": top, "file": om_runbook.flows.__path__[0]}))
"""


def _repository_modules() -> set[str]:
    modules = set()
    for folder in ("flows", "tasks", "migrations"):
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if len(parts) > 1:
                modules.add("om_runbook." + ".".join(parts))
    return modules


@pytest.mark.parametrize("name", ["tasks", "flows", "migrations", "deployments"])
def test_no_top_level_package_of_ours_is_installed(installed_venv: InstalledVenv, tmp_path, name):
    completed = subprocess.run(
        [str(installed_venv.python), "-c", f"import {name}"], cwd=tmp_path, env=installed_venv.env(),
        capture_output=True, text=True,
    )  # fmt: skip
    assert completed.returncode == 1
    assert f"No module named '{name}'" in completed.stderr


def test_every_module_installs_under_om_runbook_and_imports_once(installed_venv: InstalledVenv, tmp_path):
    completed = subprocess.run(
        [str(installed_venv.python), "-c", IMPORT_EVERYTHING], cwd=tmp_path, env=installed_venv.env(),
        capture_output=True, text=True,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert outcome["top_level_of_ours"] == []
    assert str(ROOT) not in outcome["file"]  # the installed copy, not the repository through an editable hook
    assert set(outcome["modules"]) >= _repository_modules()


def test_the_console_script_runs_from_an_unrelated_directory(installed_venv: InstalledVenv, tmp_path):
    completed = subprocess.run(
        [str(installed_venv.om_runbook), "--help"], cwd=tmp_path, env=installed_venv.env(),
        capture_output=True, text=True,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "usage: om-runbook" in completed.stdout
