"""The application's directory first on `sys.path`, as uvicorn's `--app-dir` and Celery do: its models, settings
and its own top-level modules (a Celery `tasks.py`, a `migrations/` package) import as the application sees them.
Worker processes are spawned, and a spawned process starts with its parent's `sys.path`."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from om_runbook.migrations.errors import ConfigurationError


def put_app_dir_first(app_dir: str | Path | None) -> Path:
    """`app_dir` (default: the current directory) first on sys.path; a missing directory is refused."""
    directory = Path(app_dir or os.getcwd()).expanduser().resolve()
    if not directory.is_dir():
        raise ConfigurationError(f"--app-dir {app_dir}: no such directory")
    entry = str(directory)
    sys.path[:] = [entry, *(path for path in sys.path if path != entry)]
    importlib.invalidate_caches()
    return directory
