"""`--app-dir`: the application's directory first on the import path, as uvicorn and Celery put it."""

from __future__ import annotations

import sys

import pytest

from om_runbook.migrations.errors import ConfigurationError
from om_runbook.tasks.io.app_dir import put_app_dir_first


def test_the_directory_goes_first_once_and_its_modules_import(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path)])
    (tmp_path / "app_dir_probe_module.py").write_text("WHERE = 'the application'\n")
    monkeypatch.chdir(tmp_path)
    assert put_app_dir_first(None) == tmp_path.resolve()
    assert sys.path[0] == str(tmp_path.resolve()) and sys.path.count(str(tmp_path.resolve())) == 1
    monkeypatch.delitem(sys.modules, "app_dir_probe_module", raising=False)
    import app_dir_probe_module

    assert app_dir_probe_module.WHERE == "the application"


def test_a_missing_directory_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="--app-dir .*nowhere: no such directory"):
        put_app_dir_first(tmp_path / "nowhere")
