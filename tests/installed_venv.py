"""A fresh venv with om-runbook installed from a wheel (not editable), as a user installs it into an application's
environment. Its dependencies come from the development venv's site-packages through a path entry, so the build
needs no network; that venv's editable-install hook is a .pth file there and is not run from a path entry."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class InstalledVenv:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def om_runbook(self) -> Path:
        return self.root / "bin" / "om-runbook"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a user's shell in that venv: no PYTHONPATH, the venv's bin first on PATH."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.root)
        return env | extra


def build_installed_venv(work: Path) -> InstalledVenv:
    """Build a wheel from the tracked files and install it (no deps, no editable hook) into a new venv under `work`."""
    source = work / "source"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    wheels = work / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), "."],
         source)  # fmt: skip
    venv = InstalledVenv(work / "venv")
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv.root)], work)
    site = Path(
        subprocess.run(
            [str(venv.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    dependencies = [path for path in sys.path if path.endswith("site-packages") and Path(path).is_dir()]
    (site / "dev-dependencies.pth").write_text("".join(f"{path}\n" for path in dependencies))
    wheel = next(wheels.glob("om_runbook-*.whl"))
    _run([sys.executable, "-m", "pip", "--python", str(venv.python), "install", "-q", "--no-deps", str(wheel)], work)
    return venv


def _run(argv: list[str], cwd: Path) -> None:
    completed = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-3000:]}")
